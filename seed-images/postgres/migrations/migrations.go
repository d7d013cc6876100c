// Package migrations embeds the sample migrations of the seed PostgreSQL
// image (the *.sql files next to this file), so that the sample app's
// migrate command applies exactly the files that seed-migrate.sh applies in
// the image. A file's version is its name up to the first "_".
package migrations

import "embed"

// FS holds the *.sql migrations, applied in lexical order of their names.
//
//go:embed *.sql
var FS embed.FS
