// Command etcd is etcd's server, as etcd's own main builds it: the store of
// the lab's kube-apiserver (`make kube`).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
