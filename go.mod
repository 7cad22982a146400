module github.com/vnfha/vnfha

go 1.26.8

require (
	github.com/beevik/etree v1.8.1
	github.com/sirupsen/logrus v1.10.2
	github.com/spf13/pflag v1.1.0
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.50.0
)
