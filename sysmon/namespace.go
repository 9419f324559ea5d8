package sysmon

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// NamespacePrefix is the root of every monitoring namespace.
const NamespacePrefix = "monitoring/"

var namespaceSeq atomic.Uint64

// Namespace returns a fresh monitoring namespace, "monitoring/<8 hex>",
// from a hash of the host, the process id, discriminator (the run id) and a
// counter of this process, so several processes logging into one run, and
// several runs in one process, never share a namespace. (GoodSeed hashes
// host:pid:thread id; a goroutine has no stable thread, the counter stands
// in for it.)
func Namespace(discriminator string) string {
	host, _ := os.Hostname()
	key := fmt.Sprintf("%s:%d:%s:%d", host, os.Getpid(), discriminator, namespaceSeq.Add(1))
	return fmt.Sprintf("%s%08x", NamespacePrefix, uint32(xxhash.Sum64String(key)))
}
