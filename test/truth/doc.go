// Package truth holds black-box tests of the generator's promises, run
// against the real chain (fake GitHub -> github.Client -> store -> server)
// under faults, concurrent changes on GitHub, replicas and restarts: never
// leave out a live preview, never a short 200, and an answer that is a
// function of GitHub's state. The tests are in package truth_test.
package truth
