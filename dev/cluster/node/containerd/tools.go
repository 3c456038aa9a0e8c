//go:build tools

// Package containerd pins containerd, ctr and the runc shim so that
// dev/cluster/node/build.sh can build them from this module with `go build`.
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
