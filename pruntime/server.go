package pruntime

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/pruntime/replica"
)

// MaxRequestBytes bounds what one API call may carry (a batch of blocks or a snapshot chunk).
const MaxRequestBytes = 64 << 20

// Handler serves the runtime API over Connect: HTTP/1.1 or HTTP/2, protobuf or JSON, so pherry,
// curl and browsers can all call it.
func Handler(r *Runtime) (path string, h http.Handler) {
	return apiconnect.NewRuntimeServiceHandler(&server{r: r}, connect.WithReadMaxBytes(MaxRequestBytes))
}

type server struct{ r *Runtime }

var _ apiconnect.RuntimeServiceHandler = (*server)(nil)

// connectError gives each failure a status a client can act on.
func connectError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotInitialized), errors.Is(err, ErrOtherChain), errors.Is(err, ErrNotSynced), errors.Is(err, ErrHandoverUnconfirmed), errors.Is(err, ErrNotServing):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, replica.ErrVerification), errors.Is(err, ErrHandoverMalformed):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrHandoverRefused):
		return connect.NewError(connect.CodePermissionDenied, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

func (s *server) Init(_ context.Context, req *connect.Request[api.InitRequest]) (*connect.Response[api.InitResponse], error) {
	resp, err := s.r.Init(req.Msg.GetGenesis(), req.Msg.GetOperator())
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) Registration(_ context.Context, req *connect.Request[api.RegistrationRequest]) (*connect.Response[api.RegistrationResponse], error) {
	resp, err := s.r.Registration(req.Msg.GetFreshHeight(), req.Msg.GetFreshHash())
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) SyncBlocks(_ context.Context, req *connect.Request[api.SyncBlocksRequest]) (*connect.Response[api.SyncBlocksResponse], error) {
	resp, err := s.r.SyncBlocks(req.Msg)
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) SyncHeaders(_ context.Context, req *connect.Request[api.SyncHeadersRequest]) (*connect.Response[api.SyncHeadersResponse], error) {
	resp, err := s.r.SyncHeaders(req.Msg)
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) LoadSnapshot(_ context.Context, req *connect.Request[api.LoadSnapshotRequest]) (*connect.Response[api.LoadSnapshotResponse], error) {
	resp, err := s.r.LoadSnapshot(req.Msg)
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) Egress(context.Context, *connect.Request[api.EgressRequest]) (*connect.Response[api.EgressResponse], error) {
	msgs, err := s.r.Egress()
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&api.EgressResponse{Messages: msgs}), nil
}

func (s *server) Info(context.Context, *connect.Request[api.InfoRequest]) (*connect.Response[api.InfoResponse], error) {
	return connect.NewResponse(s.r.Info()), nil
}

func (s *server) Handover(_ context.Context, req *connect.Request[api.HandoverRequest]) (*connect.Response[api.HandoverResponse], error) {
	resp, err := s.r.Handover(req.Msg)
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) SetEndpoint(_ context.Context, req *connect.Request[api.SetEndpointRequest]) (*connect.Response[api.SetEndpointResponse], error) {
	resp, err := s.r.SetEndpoint(req.Msg.GetUrl())
	if err != nil {
		return nil, queryCode(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) ClusterDigest(context.Context, *connect.Request[api.ClusterDigestRequest]) (*connect.Response[api.ClusterDigestResponse], error) {
	resp, err := s.r.ClusterDigest()
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(resp), nil
}
