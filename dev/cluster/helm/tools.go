//go:build tools

// Package tools pins the Helm command this module builds (helm.sh/helm/v3/cmd/helm).
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
