// Command egress-cni is the egress CNI plugin of IPv6 clusters, chained
// after aws-cni; everything is in package cniplugin/egress.
package main

import "github.com/enilab/enilab/cniplugin/egress"

func main() { egress.Main() }
