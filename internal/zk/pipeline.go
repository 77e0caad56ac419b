package zk

// CreateThenGet sends a create of path and, right behind it on the same
// connection, a read of getPath, without waiting for the first answer in
// between: one round trip for both. ZooKeeper answers a session's requests
// in the order they were sent, so the read sees the state just after the
// create (whether or not the create succeeded). err is the create's error
// (as Create's); data, stat and getErr are the read's (as Get's).
//
// This function is zkbalance's addition to the copy (see ZKBALANCE_PATCH.md).
func (c *Conn) CreateThenGet(path string, data []byte, flags int32, acl []ACL, getPath string) (created string, err error, got []byte, stat *Stat, getErr error) {
	createMode, err := parseCreateMode(flags)
	if err != nil {
		return "", err, nil, nil, err
	}
	if err := validatePath(path, createMode.isSequential); err != nil {
		return "", err, nil, nil, err
	}
	if createMode.isTTL {
		return "", ErrInvalidFlags, nil, nil, ErrInvalidFlags
	}
	if err := validatePath(getPath, false); err != nil {
		return "", err, nil, nil, err
	}
	cres := &createResponse{}
	gres := &getDataResponse{}
	// One goroutine queues both: sendChan keeps their order on the wire.
	crecv := c.queueRequest(opCreate, &CreateRequest{path, data, acl, createMode.flag}, cres, nil)
	grecv := c.queueRequest(opGetData, &getDataRequest{Path: getPath, Watch: false}, gres, nil)
	err = c.awaitQueued(crecv)
	getErr = c.awaitQueued(grecv)
	if err == nil {
		created = cres.Path
	}
	if getErr == nil {
		got, stat = gres.Data, &gres.Stat
	}
	return created, err, got, stat, getErr
}

// MultiThenGetMulti queues a multi of ops (as Multi takes them) and a
// multiRead of getPaths (as GetMulti) behind it without waiting in between:
// one round trip for both, the reads seeing the state just after the multi
// (applied or not). mres and err are Multi's answer, gres and getErr
// GetMulti's. The server must know multiRead (ZooKeeper 3.6+): an older one
// answers it ErrUnimplemented and closes the connection, with the multi's
// fate then unknown to the caller.
func (c *Conn) MultiThenGetMulti(ops []interface{}, getPaths []string) (mres []MultiResponse, err error, gres []MultiReadResult, getErr error) {
	req, err := newMultiRequest(ops)
	if err != nil {
		return nil, err, nil, err
	}
	for _, p := range getPaths {
		if err := validatePath(p, false); err != nil {
			return nil, err, nil, err
		}
	}
	res := &multiResponse{}
	rres := &multiReadResponse{}
	// One goroutine queues both: sendChan keeps their order on the wire.
	mrecv := c.queueRequest(opMulti, req, res, nil)
	grecv := c.queueRequest(opMultiRead, &multiReadRequest{Paths: getPaths}, rres, nil)
	err = c.awaitQueued(mrecv)
	getErr = c.awaitQueued(grecv)
	if err != ErrConnectionClosed {
		mres = make([]MultiResponse, len(res.Ops))
		for i, op := range res.Ops {
			mres[i] = MultiResponse{Stat: op.Stat, String: op.String, Error: op.Err.toError()}
		}
	}
	if getErr == nil {
		if len(rres.Results) != len(getPaths) {
			getErr = ErrAPIError
		} else {
			gres = rres.Results
		}
	}
	return mres, err, gres, getErr
}

// awaitQueued waits for the answer of a request queued with queueRequest.
func (c *Conn) awaitQueued(ch <-chan response) error {
	select {
	case r := <-ch:
		return r.err
	case <-c.shouldQuit:
		// As in request: the response structs may still be written.
		return ErrConnectionClosed
	}
}
