package haproxy

import (
	"fmt"
	"strconv"
	"strings"
)

// Info is what the bridge needs from `show info`: who the worker is and
// since when, to notice a reload or restart (every dynamic server is lost
// then, research A.4 point 9).
type Info struct {
	Version    string
	Pid        int
	ProcessNum int
	Uptime     int64 // Uptime_sec
	Node       string
	// Fields holds every "Key: value" line, for what is not typed above.
	Fields map[string]string
}

// ParseInfo parses the reply of `show info`.
func ParseInfo(reply string) (Info, error) {
	if err := readError(reply); err != nil {
		return Info{}, err
	}
	if err := complete("show info", reply); err != nil {
		return Info{}, err
	}
	info := Info{Fields: map[string]string{}}
	for line := range strings.Lines(reply) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			// "Key:" with an empty value is printed without the space.
			if k, ok := strings.CutSuffix(line, ":"); ok {
				info.Fields[k] = ""
				continue
			}
			return Info{}, fmt.Errorf("show info: %w: line %q", ErrFormat, truncate(line))
		}
		info.Fields[k] = v
	}
	var err error
	num := func(key string) int64 {
		v, ok := info.Fields[key]
		if !ok {
			if err == nil {
				err = fmt.Errorf("show info: %w: no %s", ErrFormat, key)
			}
			return 0
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("show info: %w: %s: %w", ErrFormat, key, perr)
		}
		return n
	}
	pid := num("Pid")
	info.Uptime = num("Uptime_sec")
	if pn, ok := info.Fields["Process_num"]; ok {
		n, perr := strconv.Atoi(pn)
		if perr != nil && err == nil {
			err = fmt.Errorf("show info: %w: Process_num: %w", ErrFormat, perr)
		}
		info.ProcessNum = n
	}
	if err != nil {
		return Info{}, err
	}
	if pid <= 0 || pid > 1<<31-1 {
		return Info{}, fmt.Errorf("show info: %w: Pid %d", ErrFormat, pid)
	}
	info.Pid = int(pid)
	info.Version = info.Fields["Version"]
	info.Node = info.Fields["node"]
	return info, nil
}
