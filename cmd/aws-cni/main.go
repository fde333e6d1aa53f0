// Command aws-cni is the CNI plugin binary; everything is in package cniplugin.
package main

import "github.com/enilab/enilab/cniplugin"

func main() { cniplugin.Main() }
