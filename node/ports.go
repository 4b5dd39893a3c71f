package node

import "net"

// FreePorts asks the kernel for n free loopback TCP ports (for tests and benchmarks that start
// nodes). They are released before returning, so another process could take one first; callers
// that start nodes right away rarely lose that race.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
