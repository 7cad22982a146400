// Package neigh sends what a virtual IP needs on its link: gratuitous ARP
// and ARP probes (RFC 5227) for IPv4, unsolicited neighbour advertisements
// and duplicate address detection neighbour solicitations (RFC 4861, RFC
// 4862) for IPv6, all over one AF_PACKET socket bound to the interface.
//
// A raw socket is needed because the address may not be on the interface
// yet (a probe comes before the address is added), and because the kernel
// sends neither a gratuitous ARP nor an unsolicited advertisement when an
// address is merely added.
//
// The package is linked into an agent that Pacemaker runs every few
// seconds, so it does no work at init and leaves no goroutine running.
package neigh
