package vm

import (
	"encoding/binary"
	"fmt"
)

// Module wasi_snapshot_preview1, answered deterministically: Go's wasip1 runtime imports it,
// and a contract must see the same answers on every replica. There is no filesystem, no
// arguments, no environment, no real clock and no ambient randomness; docs/contract-abi.md
// describes each function.

// WASI errno values used here.
const (
	errnoSuccess  = 0
	errnoBadf     = 8
	errnoInval    = 28
	errnoNosys    = 52
	errnoNotsup   = 58
	wasiClockReal = 0
	wasiClockMono = 1
	wasiClockProc = 2
	wasiClockThrd = 3
)

// clockTick is how far the virtual clocks advance at each clock_time_get, so that code waiting
// for time to pass makes progress. clockResolution is what clock_res_get reports.
const (
	clockTick       = 1000
	clockResolution = 1000
)

// maxIovecs bounds the iovec count of fd_write (IOV_MAX), maxSubscriptions the subscriptions of
// poll_oneoff, maxIovecLen one fd_write buffer (the memory itself is the real bound).
const (
	maxIovecs        = 1024
	maxSubscriptions = 1024
	maxIovecLen      = 0xFFFFFFFF
)

var wasiFuncs = []hostFunc{
	{"args_get", "ii", "i", wasiZero},
	{"args_sizes_get", "ii", "i", wasiSizes},
	{"environ_get", "ii", "i", wasiZero},
	{"environ_sizes_get", "ii", "i", wasiSizes},
	{"clock_res_get", "ii", "i", clockResGet},
	{"clock_time_get", "iIi", "i", clockTimeGet},
	{"fd_write", "iiii", "i", fdWrite},
	{"fd_read", "iiii", "i", fdRead},
	{"fd_fdstat_get", "ii", "i", fdFdstatGet},
	{"poll_oneoff", "iiii", "i", pollOneoff},
	{"random_get", "ii", "i", randomGet},
	{"sched_yield", "", "i", wasiZero},
	{"proc_exit", "i", "", procExit},
	{"proc_raise", "i", "i", errno(errnoNosys)},
	{"fd_fdstat_set_flags", "ii", "i", stdioOr(errnoNotsup)},
	{"fd_fdstat_set_rights", "iII", "i", stdioOr(errnoNotsup)},
	{"fd_advise", "iIIi", "i", errno(errnoBadf)},
	{"fd_allocate", "iII", "i", errno(errnoBadf)},
	{"fd_close", "i", "i", errno(errnoBadf)},
	{"fd_datasync", "i", "i", errno(errnoBadf)},
	{"fd_filestat_get", "ii", "i", errno(errnoBadf)},
	{"fd_filestat_set_size", "iI", "i", errno(errnoBadf)},
	{"fd_filestat_set_times", "iIIi", "i", errno(errnoBadf)},
	{"fd_pread", "iiiIi", "i", errno(errnoBadf)},
	{"fd_prestat_get", "ii", "i", errno(errnoBadf)},
	{"fd_prestat_dir_name", "iii", "i", errno(errnoBadf)},
	{"fd_pwrite", "iiiIi", "i", errno(errnoBadf)},
	{"fd_readdir", "iiiIi", "i", errno(errnoBadf)},
	{"fd_renumber", "ii", "i", errno(errnoBadf)},
	{"fd_seek", "iIii", "i", errno(errnoBadf)},
	{"fd_sync", "i", "i", errno(errnoBadf)},
	{"fd_tell", "ii", "i", errno(errnoBadf)},
	{"path_create_directory", "iii", "i", errno(errnoBadf)},
	{"path_filestat_get", "iiiii", "i", errno(errnoBadf)},
	{"path_filestat_set_times", "iiiiIIi", "i", errno(errnoBadf)},
	{"path_link", "iiiiiii", "i", errno(errnoBadf)},
	{"path_open", "iiiiiIIii", "i", errno(errnoBadf)},
	{"path_readlink", "iiiiii", "i", errno(errnoBadf)},
	{"path_remove_directory", "iii", "i", errno(errnoBadf)},
	{"path_rename", "iiiiii", "i", errno(errnoBadf)},
	{"path_symlink", "iiiii", "i", errno(errnoBadf)},
	{"path_unlink_file", "iii", "i", errno(errnoBadf)},
	{"sock_accept", "iii", "i", errno(errnoBadf)},
	{"sock_recv", "iiiiii", "i", errno(errnoBadf)},
	{"sock_send", "iiiii", "i", errno(errnoBadf)},
	{"sock_shutdown", "ii", "i", errno(errnoBadf)},
}

// errno answers with a fixed error: the function has nothing to act on (no file descriptors,
// no sockets, no signals).
func errno(code uint64) func(*callState, guestMemory, []uint64) error {
	return func(_ *callState, _ guestMemory, st []uint64) error {
		st[0] = code
		return nil
	}
}

// stdioOr refuses an operation on a standard descriptor with code, on any other with EBADF.
func stdioOr(code uint64) func(*callState, guestMemory, []uint64) error {
	return func(_ *callState, _ guestMemory, st []uint64) error {
		fd := u32(st[0])
		st[0] = errnoBadf
		if fd <= 2 {
			st[0] = code
		}
		return nil
	}
}

func wasiZero(_ *callState, _ guestMemory, st []uint64) error {
	st[0] = errnoSuccess
	return nil
}

// wasiSizes answers args_sizes_get and environ_sizes_get: zero entries, zero bytes.
func wasiSizes(s *callState, mem guestMemory, st []uint64) error {
	var zero [4]byte
	if err := s.write(mem, u32(st[0]), zero[:], "count"); err != nil {
		return err
	}
	if err := s.write(mem, u32(st[1]), zero[:], "size"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

func clockResGet(s *callState, mem guestMemory, st []uint64) error {
	if u32(st[0]) > wasiClockThrd {
		st[0] = errnoInval
		return nil
	}
	if err := s.write(mem, u32(st[1]), binary.LittleEndian.AppendUint64(nil, clockResolution), "resolution"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// now returns the virtual time of clock id without advancing it; ok is false for an unknown id.
func (s *callState) now(id uint32) (uint64, bool) {
	switch id {
	case wasiClockReal:
		var base int64 // 1970 during _initialize
		if s.host != nil {
			base = unixNano(s.blockInfo().Time)
		}
		return uint64(base) + s.elapsed, true
	case wasiClockMono:
		return s.monoBase + s.elapsed, true
	case wasiClockProc, wasiClockThrd:
		return s.elapsed, true
	}
	return 0, false
}

func clockTimeGet(s *callState, mem guestMemory, st []uint64) error {
	t, ok := s.now(u32(st[0]))
	if !ok {
		st[0] = errnoInval
		return nil
	}
	s.elapsed += clockTick
	if err := s.write(mem, u32(st[2]), binary.LittleEndian.AppendUint64(nil, t), "timestamp"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// decodeIovecs reads n (ptr u32, len u32) pairs at iovs and returns the total length.
func decodeIovecs(mem guestMemory, iovs, n uint32) ([][2]uint32, uint64, error) {
	if n > maxIovecs {
		return nil, 0, fmt.Errorf("%w: %d iovecs (at most %d)", ErrABI, n, maxIovecs)
	}
	if n == 0 {
		return nil, 0, nil
	}
	raw, ok := mem.Read(iovs, n*8)
	if !ok {
		return nil, 0, fmt.Errorf("%w: iovec array [%d, +%d) is outside the contract's memory", ErrABI, iovs, n*8)
	}
	vecs := make([][2]uint32, n)
	var total uint64
	for i := range vecs {
		vecs[i] = [2]uint32{binary.LittleEndian.Uint32(raw[8*i:]), binary.LittleEndian.Uint32(raw[8*i+4:])}
		total += uint64(vecs[i][1])
	}
	return vecs, total, nil
}

// fdWrite accepts writes to stdout and stderr (kept, bounded, for Host.Log and trap messages)
// and refuses every other descriptor.
func fdWrite(s *callState, mem guestMemory, st []uint64) error {
	fd := u32(st[0])
	if fd != 1 && fd != 2 {
		st[0] = errnoBadf
		return nil
	}
	vecs, total, err := decodeIovecs(mem, u32(st[1]), u32(st[2]))
	if err != nil {
		return err
	}
	if total > 0xFFFFFFFF {
		return fmt.Errorf("%w: fd_write of %d bytes", ErrABI, total)
	}
	for _, v := range vecs {
		b, err := s.read(mem, v[0], v[1], maxIovecLen, "fd_write buffer")
		if err != nil {
			return err
		}
		s.appendOutput(fd, b)
	}
	if err := s.write(mem, u32(st[3]), binary.LittleEndian.AppendUint32(nil, uint32(total)), "nwritten"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// appendOutput keeps the first maxLogBytes of stdout and stderr each.
func (s *callState) appendOutput(fd uint32, b []byte) {
	p := &s.stdout
	if fd == 2 {
		p = &s.stderr
	}
	if room := maxLogBytes - len(*p); room > 0 {
		*p = append(*p, b[:min(len(b), room)]...)
	}
}

// fdRead reads end-of-file from stdin and refuses every other descriptor.
func fdRead(s *callState, mem guestMemory, st []uint64) error {
	if u32(st[0]) != 0 {
		st[0] = errnoBadf
		return nil
	}
	if _, _, err := decodeIovecs(mem, u32(st[1]), u32(st[2])); err != nil {
		return err
	}
	if err := s.write(mem, u32(st[3]), make([]byte, 4), "nread"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// fdFdstatGet describes the standard descriptors as character devices (stdin readable, stdout
// and stderr writable) and refuses the others.
func fdFdstatGet(s *callState, mem guestMemory, st []uint64) error {
	fd := u32(st[0])
	if fd > 2 {
		st[0] = errnoBadf
		return nil
	}
	const rightRead, rightWrite = 1 << 1, 1 << 6
	stat := make([]byte, 24)
	stat[0] = 2 // character device
	rights := uint64(rightWrite)
	if fd == 0 {
		rights = rightRead
	}
	binary.LittleEndian.PutUint64(stat[8:], rights)
	if err := s.write(mem, u32(st[1]), stat, "fdstat"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// subscription is a decoded poll_oneoff subscription (48 bytes in memory).
type subscription struct {
	userdata uint64
	tag      uint8 // 0 clock, 1 fd_read, 2 fd_write
	clockID  uint32
	timeout  uint64
	abstime  bool
}

func decodeSubscriptions(mem guestMemory, in, n uint32) ([]subscription, error) {
	if n == 0 || n > maxSubscriptions {
		return nil, fmt.Errorf("%w: poll_oneoff with %d subscriptions (1..%d)", ErrABI, n, maxSubscriptions)
	}
	raw, ok := mem.Read(in, n*48)
	if !ok {
		return nil, fmt.Errorf("%w: subscriptions [%d, +%d) are outside the contract's memory", ErrABI, in, n*48)
	}
	subs := make([]subscription, n)
	for i := range subs {
		b := raw[48*i : 48*i+48]
		subs[i] = subscription{userdata: binary.LittleEndian.Uint64(b), tag: b[8]}
		switch subs[i].tag {
		case 0:
			subs[i].clockID = binary.LittleEndian.Uint32(b[16:])
			subs[i].timeout = binary.LittleEndian.Uint64(b[24:])
			subs[i].abstime = binary.LittleEndian.Uint16(b[40:])&1 != 0
		case 1, 2:
		default:
			return nil, fmt.Errorf("%w: poll_oneoff subscription tag %d", ErrABI, subs[i].tag)
		}
	}
	return subs, nil
}

// pollOneoff never blocks: it advances the virtual clocks to the earliest clock deadline and
// reports the clock subscriptions that are then due, and every descriptor subscription with
// EBADF (there are no descriptors to wait for).
func pollOneoff(s *callState, mem guestMemory, st []uint64) error {
	n := u32(st[2])
	if err := s.charge(mulSat(uint64(n)*48, s.cfg.Costs.Byte)); err != nil {
		return err
	}
	subs, err := decodeSubscriptions(mem, u32(st[0]), n)
	if err != nil {
		return err
	}
	// The earliest clock deadline, as elapsed virtual time.
	next, haveClock := uint64(0), false
	deadlines := make([]uint64, len(subs))
	for i, sub := range subs {
		if sub.tag != 0 {
			continue
		}
		now, ok := s.now(sub.clockID)
		if !ok {
			continue
		}
		d := s.elapsed + sub.timeout
		if sub.abstime {
			d = s.elapsed
			if sub.timeout > now {
				d += sub.timeout - now
			}
		}
		if d < s.elapsed { // the timeout wrapped: treat as never
			d = ^uint64(0)
		}
		deadlines[i] = d
		if !haveClock || d < next {
			next, haveClock = d, true
		}
	}
	if haveClock && next > s.elapsed && next != ^uint64(0) {
		s.elapsed = next
	}
	events := make([]byte, 0, 32*len(subs))
	count := uint32(0)
	for i, sub := range subs {
		var code uint16
		if sub.tag == 0 {
			if _, ok := s.now(sub.clockID); !ok {
				code = errnoInval
			} else if deadlines[i] > s.elapsed {
				continue
			}
		} else {
			code = errnoBadf
		}
		var ev [32]byte
		binary.LittleEndian.PutUint64(ev[0:], sub.userdata)
		binary.LittleEndian.PutUint16(ev[8:], code)
		ev[10] = sub.tag
		events = append(events, ev[:]...)
		count++
	}
	if err := s.write(mem, u32(st[1]), events, "poll events"); err != nil {
		return err
	}
	if err := s.write(mem, u32(st[3]), binary.LittleEndian.AppendUint32(nil, count), "nevents"); err != nil {
		return err
	}
	st[0] = errnoSuccess
	return nil
}

// randomGet fills the buffer from the call's deterministic stream (see callState.random).
func randomGet(s *callState, mem guestMemory, st []uint64) error {
	n := u32(st[1])
	if err := s.charge(mulSat(uint64(n), s.cfg.Costs.Byte)); err != nil {
		return err
	}
	if n == 0 {
		st[0] = errnoSuccess
		return nil
	}
	b, ok := mem.Read(u32(st[0]), n)
	if !ok {
		return fmt.Errorf("%w: random_get buffer [%d, +%d) is outside the contract's memory", ErrABI, u32(st[0]), n)
	}
	s.random().Read(b)
	st[0] = errnoSuccess
	return nil
}

// procExit ends the call: Go's runtime calls it after printing a panic.
func procExit(s *callState, _ guestMemory, st []uint64) error {
	return fmt.Errorf("%w: the contract exited with code %d%s", ErrTrap, u32(st[0]), s.panicText())
}
