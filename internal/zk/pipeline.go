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
	wait := func(ch <-chan response) error {
		select {
		case r := <-ch:
			return r.err
		case <-c.shouldQuit:
			// As in request: the response structs may still be written.
			return ErrConnectionClosed
		}
	}
	err = wait(crecv)
	getErr = wait(grecv)
	if err == nil {
		created = cres.Path
	}
	if getErr == nil {
		got, stat = gres.Data, &gres.Stat
	}
	return created, err, got, stat, getErr
}
