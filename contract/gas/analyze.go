package gas

// The analyzer splits a function body into basic blocks ("segments") and groups them into
// metered regions. A region has a single entry, its root; its other segments are entered only
// from segments of the same region, by forward edges. The root charges the cost of the
// costliest path through the region, so every instruction is paid for before it runs and
// every loop iteration pays at least once (loop headers and the function entry are always
// roots, and every back edge is a branch, which costs at least 1).

type segment struct {
	at     int32  // index of the segment's first instruction
	preds  int32  // head of the segment's predecessor list in analyzer.edges, -1 if none
	forced bool   // function entry or loop header: always a root
	region int32  // id of the region's root segment; -1 when unreachable
	cost   uint64 // static cost of the segment's instructions
	dist   uint64 // cost of the costliest path from the root through this segment
	charge uint64 // on roots: the amount charged on entry
}

type edge struct {
	from int32 // predecessor segment
	next int32 // next edge in the list, -1 at the end
}

type aFrame struct {
	op      uint16 // opBlock, opLoop, opIf or opEnd (the function itself)
	pending int32  // edges into the point after the frame's end
	ifSeg   int32  // for if: the segment ending with the if (its false edge)
	sawElse bool
}

// chargePoint is a charge of amount before instruction at.
type chargePoint struct {
	at     int32
	amount uint64
}

type analyzer struct {
	segs    []segment
	edges   []edge
	frames  []aFrame
	charges []chargePoint
	fold    uint64
}

// analyze fills a.charges, in instruction order, for the body in d.
func (a *analyzer) analyze(d *decoder, costs [numClasses]uint64, fold uint64) {
	a.segs = a.segs[:0]
	a.edges = a.edges[:0]
	a.frames = append(a.frames[:0], aFrame{op: opEnd, pending: -1})
	a.charges = a.charges[:0]
	a.fold = fold
	cur := a.newSeg(0, -1, true)
	for i, in := range d.instrs {
		next := int32(i + 1)
		a.segs[cur].cost += costs[info(in.op).class]
		switch in.op {
		case opBlock:
			a.frames = append(a.frames, aFrame{op: opBlock, pending: -1})
		case opLoop:
			a.frames = append(a.frames, aFrame{op: opLoop, pending: -1})
			if in.loopTargeted {
				a.finish(cur)
				cur = a.newSeg(next, -1, true)
			}
		case opIf:
			a.frames = append(a.frames, aFrame{op: opIf, pending: -1, ifSeg: cur})
			a.finish(cur)
			cur = a.newSeg(next, a.addEdge(-1, cur), false)
		case opElse:
			f := &a.frames[len(a.frames)-1]
			f.pending = a.addEdge(f.pending, cur)
			f.sawElse = true
			a.finish(cur)
			cur = a.newSeg(next, a.addEdge(-1, f.ifSeg), false)
		case opEnd:
			f := a.frames[len(a.frames)-1]
			a.frames = a.frames[:len(a.frames)-1]
			switch {
			case f.op == opEnd:
				a.finishExit(cur, true)
			case f.op == opLoop, f.op == opBlock && f.pending < 0:
				// Reached only by falling through: the segment goes on.
			default:
				preds := a.addEdge(f.pending, cur)
				if f.op == opIf && !f.sawElse {
					preds = a.addEdge(preds, f.ifSeg)
				}
				a.finish(cur)
				cur = a.newSeg(next, preds, false)
			}
		case opBr, opBrIf:
			a.branch(in.arg, cur)
			a.finishExit(cur, in.op == opBr && int(in.arg) == len(a.frames)-1)
			preds := int32(-1)
			if in.op == opBrIf {
				preds = a.addEdge(-1, cur)
			}
			cur = a.newSeg(next, preds, false)
		case opBrTable:
			n := d.targets[in.arg]
			for _, l := range d.targets[in.arg+1 : in.arg+1+n] {
				a.branch(l, cur)
			}
			a.finish(cur)
			cur = a.newSeg(next, -1, false)
		case opReturn, opUnreachable:
			a.finishExit(cur, true)
			cur = a.newSeg(next, -1, false)
		}
	}
	for i := range a.segs {
		s := &a.segs[i]
		if s.region == int32(i) && s.charge > 0 {
			a.charges = append(a.charges, chargePoint{at: s.at, amount: s.charge})
		}
	}
}

func (a *analyzer) newSeg(at, preds int32, forced bool) int32 {
	a.segs = append(a.segs, segment{at: at, preds: preds, forced: forced, region: -1})
	return int32(len(a.segs) - 1)
}

func (a *analyzer) addEdge(list, from int32) int32 {
	a.edges = append(a.edges, edge{from: from, next: list})
	return int32(len(a.edges) - 1)
}

// branch records an edge from segment from to the label at depth l. Edges to a loop go
// back to its header, a root, and edges to the function label leave; neither is recorded.
func (a *analyzer) branch(l uint32, from int32) {
	f := &a.frames[len(a.frames)-1-int(l)]
	if f.op == opBlock || f.op == opIf {
		f.pending = a.addEdge(f.pending, from)
	}
}

// finish assigns segment id to a region once its cost is known. All its predecessors are
// finished: every edge but a back edge goes forward, and back edges only reach loop headers.
func (a *analyzer) finish(id int32) { a.finishExit(id, false) }

// finishExit is finish for a segment that may end the call (return, unreachable, the final
// end). Such a segment runs at most once per call, so it may join a region only if that does
// not raise the region's charge, which every other path through the region pays.
func (a *analyzer) finishExit(id int32, exit bool) {
	s := &a.segs[id]
	if s.forced {
		s.region, s.dist, s.charge = id, s.cost, s.cost
		return
	}
	region, same := int32(-1), true
	var maxDist uint64
	for e := s.preds; e >= 0; e = a.edges[e].next {
		p := &a.segs[a.edges[e].from]
		if p.region < 0 {
			continue // an unreachable predecessor never transfers control
		}
		if region >= 0 && p.region != region {
			same = false
		}
		region = p.region
		maxDist = max(maxDist, p.dist)
	}
	switch {
	case region < 0:
		s.region = -1
	case same && maxDist+s.cost <= a.fold && (!exit || maxDist+s.cost <= a.segs[region].charge):
		s.region, s.dist = region, maxDist+s.cost
		root := &a.segs[region]
		root.charge = max(root.charge, s.dist)
	default:
		s.region, s.dist, s.charge = id, s.cost, s.cost
	}
}
