//go:build tools

// Package cni pins the CNI loopback plugin so that dev/cluster/node/build.sh
// can build it from this module with `go build`.
package cni

import _ "github.com/containernetworking/plugins/plugins/main/loopback"
