//go:build tools

// Package s3 pins the versitygw command (an S3-compatible server) so that
// build.sh can build it from this module with `go build`.
package s3

import _ "github.com/versity/versitygw/cmd/versitygw"
