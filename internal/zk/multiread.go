package zk

import "reflect"

// multiRead (zkbalance patch; ZooKeeper 3.6+): many getData operations in
// one request, answered together. Each read is still checked against its
// znode's ACL and answered on its own (data and stat, or an error), but the
// server takes the request through its pipeline once instead of once per
// znode.

const opMultiRead = 22

// MultiReadResult is one read of GetMulti: the znode's data and stat, or
// an error (ErrNoNode, ErrNoAuth, ...).
type MultiReadResult struct {
	Data []byte
	Stat *Stat
	Err  error
}

type multiReadRequest struct {
	Paths []string
}

func (r *multiReadRequest) Encode(buf []byte) (int, error) {
	total := 0
	for _, p := range r.Paths {
		for _, v := range []any{multiHeader{Type: opGetData, Done: false, Err: -1}, pathWatchRequest{Path: p}} {
			n, err := encodePacketValue(buf[total:], reflect.ValueOf(v))
			if err != nil {
				return total, err
			}
			total += n
		}
	}
	n, err := encodePacketValue(buf[total:], reflect.ValueOf(multiHeader{Type: -1, Done: true, Err: -1}))
	return total + n, err
}

type multiReadResponse struct {
	Results []MultiReadResult
}

func (r *multiReadResponse) Decode(buf []byte) (int, error) {
	total := 0
	for {
		var h multiHeader
		n, err := decodePacketValue(buf[total:], reflect.ValueOf(&h))
		if err != nil {
			return total, err
		}
		total += n
		if h.Done {
			return total, nil
		}
		switch h.Type {
		case opGetData:
			var res getDataResponse
			n, err := decodePacketValue(buf[total:], reflect.ValueOf(&res))
			if err != nil {
				return total, err
			}
			total += n
			st := res.Stat
			r.Results = append(r.Results, MultiReadResult{Data: res.Data, Stat: &st})
		case opError:
			var code ErrCode
			n, err := decodePacketValue(buf[total:], reflect.ValueOf(&code))
			if err != nil {
				return total, err
			}
			total += n
			err = code.toError()
			if err == nil {
				err = ErrUnknown
			}
			r.Results = append(r.Results, MultiReadResult{Err: err})
		default:
			return total, ErrAPIError
		}
	}
}

// GetMulti reads the data and stat of every path in one multiRead request
// (ZooKeeper 3.6+; an older server answers ErrUnimplemented and closes the
// connection). The results are in the order of paths.
func (c *Conn) GetMulti(paths []string) ([]MultiReadResult, error) {
	for _, p := range paths {
		if err := validatePath(p, false); err != nil {
			return nil, err
		}
	}
	res := &multiReadResponse{}
	if _, err := c.request(opMultiRead, &multiReadRequest{Paths: paths}, res, nil); err != nil {
		return nil, err
	}
	if len(res.Results) != len(paths) {
		return nil, ErrAPIError
	}
	return res.Results, nil
}
