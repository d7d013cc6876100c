// Command genseed writes a deterministic, generated seed (the data for the
// v1 schema of seed-images/postgres) as psql input. The benchmark in
// internal/seedtest generates the same data itself; this command is for
// looking at it or loading it by hand:
//
//	go run ./hack/pg/genseed -customers 250000 -seed 42 -o /tmp/seed.sql
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/preview-generator/preview-generator/internal/seedtest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "genseed:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("genseed", flag.ContinueOnError)
	seed := fs.Uint64("seed", seedtest.BenchSeed, "pseudo-random seed")
	customers := fs.Int("customers", seedtest.BenchCustomers, "number of customers (about 400 bytes of SQL each)")
	out := fs.String("o", "-", "output file, - for stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("creating %s: %w", *out, err)
		}
		defer func() { _ = f.Close() }() // closed below with its error checked; this covers early returns
		w = f
	}
	bw := bufio.NewWriter(w)
	if err := seedtest.Generate(bw, seedtest.GenConfig{Seed: *seed, Customers: *customers}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", *out, err)
		}
	}
	return nil
}
