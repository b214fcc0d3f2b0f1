// Package temporalserver runs a complete Temporal server inside the apoyo
// process, persisted to an SQLite file (or in memory for tests), the way the
// Temporal CLI's dev server does: schema set up on first start, apoyo's
// namespace registered with the search attributes its workflows use, and the
// frontend on a fixed port so state and address survive a restart.
//
// It is for `apoyo dev`, the demo and integration tests. Production runs a
// Temporal cluster and points apoyo at it with temporal.address.
package temporalserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/api/adminservice/v1"
	clusterspb "go.temporal.io/server/api/cluster/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	tconfig "go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "modernc.org/sqlite" // the "sqlite" driver forgetMembers opens the file with

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/apoyo-cdmx/apoyo/internal/netutil"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// Options describe the server to run.
type Options struct {
	// DatabaseFile is the SQLite file; "" keeps state in memory (tests).
	DatabaseFile string
	// IP the frontend binds to. Default 127.0.0.1.
	IP string
	// Port of the frontend gRPC service; 0 picks a free one.
	Port int
	// UIPort serves the Temporal Web UI; 0 disables it.
	UIPort int
	// Namespace to register. Default "apoyo".
	Namespace string
	// Logger for the server; nil discards its (voluminous) logs.
	Logger log.Logger
	// CodecEndpoint, when set, is the codec server the Web UI asks to
	// decode payloads (which apoyo encrypts).
	CodecEndpoint string
}

// Server is a running embedded Temporal server.
type Server struct {
	srv        temporal.Server
	ui         *uiserver.Server
	address    string
	uiAddress  string
	namespace  string
	metricsURL string
}

// Start configures and starts the server, and returns once the frontend
// answers, every service has joined the cluster's membership and the
// namespace has every search attribute apoyo needs.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "apoyo"
	}
	if o.Logger == nil {
		o.Logger = log.NewNoopLogger()
	}
	var err error
	if o.Port == 0 {
		if o.Port, err = netutil.FreePort(); err != nil {
			return nil, err
		}
	} else if !netutil.PortFree(o.IP, o.Port) {
		return nil, fmt.Errorf("temporalserver: port %d on %s is in use (another apoyo dev or Temporal server?); set dev.temporal_port", o.Port, o.IP)
	}

	sqlCfg := tconfig.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if o.DatabaseFile == "" {
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = "apoyo-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	} else {
		abs, err := filepath.Abs(o.DatabaseFile)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, err
		}
		sqlCfg.DatabaseName = abs
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// WAL survives a crash of the process; NORMAL sync is safe with
		// WAL. Temporal's plugin passes every attribute it does not know
		// as a pragma by its own name: "_journal_mode" (as this once said)
		// was no pragma, and SQLite ignores those silently.
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "1"
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(&sqlCfg); err != nil {
				return nil, fmt.Errorf("temporalserver: setting up schema: %w", err)
			}
		} else if err := forgetMembers(ctx, abs); err != nil {
			return nil, err
		}
	}

	cfg, err := serverConfig(o, &sqlCfg)
	if err != nil {
		return nil, err
	}
	ns, err := sqlite.NewNamespaceConfig(cfg.ClusterMetadata.CurrentClusterName, o.Namespace, false, searchattr.Definitions)
	if err != nil {
		return nil, err
	}
	if err := sqlite.CreateNamespaces(&sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("temporalserver: registering namespace: %w", err)
	}

	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, o.Logger)
	if err != nil {
		return nil, err
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(o.Logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*tconfig.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// Search attributes added at start are visible at once.
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			// Let one workflow run many activities/children in a cycle.
			dynamicconfig.FrontendMaxConcurrentBatchOperationPerNamespace.Key(): []dynamicconfig.ConstrainedValue{{Value: 10}},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("temporalserver: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("temporalserver: starting: %w", err)
	}
	s := &Server{srv: srv, address: fmt.Sprintf("%s:%d", o.IP, o.Port), namespace: o.Namespace,
		metricsURL: "http://" + cfg.Global.Metrics.Prometheus.ListenAddress + cfg.Global.Metrics.Prometheus.HandlerPath}
	if err := s.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if o.UIPort != 0 {
		if err := s.startUI(o); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func serverConfig(o Options, sqlCfg *tconfig.SQL) (*tconfig.Config, error) {
	// Internal ports come from outside the ephemeral range, where no
	// client connection can take them between the pick and the bind.
	ports := make([]int, 8)
	for i := range ports {
		p, err := netutil.FreeServicePort(append(ports[:i:i], o.Port)...)
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	svc := func(grpc, membership int, bindIP string) tconfig.Service {
		rpc := tconfig.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnLocalHost: true}
		if bindIP != "" {
			rpc.BindOnLocalHost, rpc.BindOnIP = false, bindIP
		}
		return tconfig.Service{RPC: rpc}
	}
	const broadcast = "127.0.0.1"
	cfg := &tconfig.Config{}
	cfg.Global.Membership = tconfig.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: broadcast}
	cfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
		ListenAddress: fmt.Sprintf("127.0.0.1:%d", ports[0]), HandlerPath: "/metrics"}}
	cfg.Persistence = tconfig.Persistence{
		DefaultStore: sqliteplugin.PluginName, VisibilityStore: sqliteplugin.PluginName, NumHistoryShards: 1,
		DataStores: map[string]tconfig.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace: false, FailoverVersionIncrement: 10,
		MasterClusterName: "active", CurrentClusterName: "active",
		ClusterInformation: map[string]cluster.ClusterInformation{"active": {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: fmt.Sprintf("%s:%d", broadcast, o.Port)}},
	}
	cfg.DCRedirectionPolicy = tconfig.DCRedirectionPolicy{Policy: "noop"}
	cfg.Services = map[string]tconfig.Service{
		"frontend": svc(o.Port, ports[1], o.IP),
		"history":  svc(ports[2], ports[3], ""),
		"matching": svc(ports[4], ports[5], ""),
		"worker":   svc(ports[6], ports[7], ""),
	}
	cfg.Archival = tconfig.Archival{
		History:    tconfig.HistoryArchival{State: "disabled"},
		Visibility: tconfig.VisibilityArchival{State: "disabled"},
	}
	cfg.PublicClient = tconfig.PublicClient{HostPort: fmt.Sprintf("%s:%d", broadcast, o.Port)}
	cfg.NamespaceDefaults = tconfig.NamespaceDefaults{Archival: tconfig.ArchivalNamespaceDefaults{
		History:    tconfig.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: tconfig.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}}
	return cfg, nil
}

// waitReady polls the frontend until the namespace is usable, then adds any
// search attribute that an older data file lacks (the namespace config only
// applies them when the namespace is first created).
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var c client.Client
	var err error
	for {
		c, err = client.Dial(client.Options{HostPort: s.address, Namespace: s.namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				break
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalserver: frontend at %s not ready: %w", s.address, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer c.Close()
	if err := s.waitJoined(ctx); err != nil {
		return err
	}
	for {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.namespace})
		if err == nil {
			missing := map[string]enumspb.IndexedValueType{}
			for name, typ := range searchattr.Definitions {
				if _, ok := resp.CustomAttributes[name]; !ok {
					missing[name] = typ
				}
			}
			if len(missing) == 0 {
				return nil
			}
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: s.namespace, SearchAttributes: missing})
			if err == nil {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalserver: namespace %s not ready: %w", s.namespace, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitJoined polls the cluster's membership until every service is in its
// ring. The frontend answers before the others have joined, and each
// service joins in a goroutine of its own: a Stop before it has (a test's,
// or the chaos run's restart) destroys the ring under it; Temporal's
// monitor then fails to read its labels, logs a Fatal that our discarding
// logger does not exit on, and dereferences the nil labels: the whole
// process crashes.
func (s *Server) waitJoined(ctx context.Context) error {
	conn, err := grpc.NewClient(s.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("temporalserver: %w", err)
	}
	defer conn.Close()
	admin := adminservice.NewAdminServiceClient(conn)
	for {
		var resp *adminservice.DescribeClusterResponse
		if resp, err = admin.DescribeCluster(ctx, &adminservice.DescribeClusterRequest{}); err == nil {
			if err = joined(resp.GetMembershipInfo().GetRings()); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalserver: services not joined: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// joined says which of servicesThatJoin has no member in rings.
func joined(rings []*clusterspb.RingInfo) error {
	members := map[string]int32{}
	for _, ring := range rings {
		members[ring.GetRole()] = ring.GetMemberCount()
	}
	for _, role := range servicesThatJoin {
		if members[role] == 0 {
			return fmt.Errorf("%s has not joined the membership ring", role)
		}
	}
	return nil
}

func (s *Server) startUI(o Options) error {
	if !netutil.PortFree(o.IP, o.UIPort) {
		return fmt.Errorf("temporalserver: UI port %d is in use; set dev.ui_port (0 disables the UI)", o.UIPort)
	}
	cfg := &uiconfig.Config{
		Host:                o.IP,
		Port:                o.UIPort,
		TemporalGRPCAddress: s.address,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		DisableNewsFetch:    true,
		HideLogs:            true,
	}
	cfg.Codec.Endpoint = o.CodecEndpoint
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	go func() { _ = s.ui.Start() }()
	s.uiAddress = fmt.Sprintf("http://%s:%d", o.IP, o.UIPort)
	return nil
}

// Address is the frontend's host:port.
func (s *Server) Address() string { return s.address }

// UIAddress is the Web UI's URL, "" when disabled.
func (s *Server) UIAddress() string { return s.uiAddress }

// MetricsURL is the server's Prometheus endpoint: among its metrics, the
// "action" counter the server keeps by Temporal Cloud's billing rules.
func (s *Server) MetricsURL() string { return s.metricsURL }

// Namespace is the registered namespace.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the server (and UI) down.
func (s *Server) Stop() error {
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.srv.Stop()
}

// forgetMembers deletes the membership rows of the file's previous
// process. Each service bootstraps its ring from the hosts that
// heartbeated in the last 20 seconds; after a restart (or a kill) those are
// the previous process's, which no longer answer, and a service then
// retries its join every 10 seconds until they age out: matching took 46 s
// to join here. An embedded server is the only process on its file, so
// every row in the table is stale when it starts.
func forgetMembers(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return fmt.Errorf("temporalserver: opening %s: %w", file, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("temporalserver: forgetting the previous process's members: %w", err)
	}
	return nil
}

// servicesThatJoin are the services Start runs, each of which joins the
// cluster's membership ring under its role's name.
var servicesThatJoin = temporal.DefaultServices
