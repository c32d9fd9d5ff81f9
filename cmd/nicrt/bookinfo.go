package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo"
)

// bookinfoSubs are the `nicrt bookinfo <sub>` subcommands, described with the
// top-level command type (name is the subcommand's own name, "serve"). Each
// lives in its own bookinfo_<sub>.go file and registers itself with
// registerBookinfo in init, like the top-level commands.
var bookinfoSubs = map[string]*command{}

func registerBookinfo(s *command) {
	if _, dup := bookinfoSubs[s.name]; dup {
		panic("nicrt: duplicate bookinfo subcommand " + s.name)
	}
	bookinfoSubs[s.name] = s
}

// bookinfoCmd is set in init (its flags function refers back to it).
var bookinfoCmd *command

func init() {
	bookinfoCmd = &command{
		name:    "bookinfo",
		summary: "run Istio's Bookinfo application (re-implemented in Go)",
		usage:   "<subcommand> [flags]",
		flags: func(fs *pflag.FlagSet) {
			// Flags after the subcommand belong to it: stop at the first argument.
			fs.SetInterspersed(false)
			bookinfoCmdUsage()
		},
		run: runBookinfo,
	}
	register(bookinfoCmd)
	registerBookinfo(&command{
		name:    "serve",
		summary: "run one Bookinfo service (productpage, details, reviews or ratings)",
		usage:   "--service S [--version V] [--listen ADDR] [--outbound ADDR] [flags]",
		flags:   serveFlags,
		run:     runServe,
	})
}

// bookinfoCmdUsage lists the registered subcommands in the command's help. It
// runs when the help is printed, after every file's init has registered.
func bookinfoCmdUsage() {
	names := make([]string, 0, len(bookinfoSubs))
	for n := range bookinfoSubs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("<subcommand> [flags]\n\nSubcommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, bookinfoSubs[n].summary)
	}
	b.WriteString("\nRun 'nicrt bookinfo <subcommand> --help' for its flags.")
	bookinfoCmd.usage = b.String()
}

func runBookinfo(_ *pflag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand")
	}
	sub, ok := bookinfoSubs[args[0]]
	if !ok {
		return usagef("unknown subcommand %q", args[0])
	}
	fs := newFlagSet(sub)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printBookinfoSubHelp(os.Stdout, sub, fs)
			return nil
		}
		fmt.Fprintf(os.Stderr, "nicrt bookinfo %s: %v\n", sub.name, err)
		printBookinfoSubHelp(os.Stderr, sub, fs)
		return exitError{2}
	}
	err := sub.run(fs, fs.Args())
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "nicrt bookinfo %s: %v\n", sub.name, err)
		printBookinfoSubHelp(os.Stderr, sub, fs)
		return exitError{2}
	}
	return err
}

func printBookinfoSubHelp(w io.Writer, s *command, fs *pflag.FlagSet) {
	full := *s
	full.name = "bookinfo " + s.name
	printCommandHelp(w, &full, fs)
	fmt.Fprint(w, bookinfoSubHelp[s.name])
}

// bookinfoSubHelp is text printed after a subcommand's flags (environment,
// examples), by subcommand name.
var bookinfoSubHelp = map[string]string{"serve": serveEnvHelp}

const serveEnvHelp = `
Environment (as the original services read it; --env and the shortcut flags win):
  DETAILS_HOSTNAME, REVIEWS_HOSTNAME, RATINGS_HOSTNAME   upstream host names (default: the service name)
  DETAILS_SERVICE_PORT, REVIEWS_SERVICE_PORT, RATINGS_SERVICE_PORT   upstream ports (default 9080)
  SERVICES_DOMAIN    appended to every upstream host name as ".<domain>"
  ENABLE_RATINGS, STAR_COLOR   reviews: override what --version implies
  HOSTNAME, CLUSTER_NAME       reviews: the podname and clustername it reports ("null" when unset)
  SERVICE_VERSION              default for --version (ratings: v1, v-faulty, v-delayed, v-unavailable, v-unhealthy)

Examples:
  nicrt bookinfo serve --service ratings --listen 127.0.0.1:9084
  nicrt bookinfo serve --service reviews --version v3 --listen 127.0.0.1:9083 --ratings 127.0.0.1:9084
  nicrt bookinfo serve --service productpage --listen 127.0.0.1:9080 \
      --details 127.0.0.1:9081 --reviews 127.0.0.1:9083
  nicrt bookinfo serve --service productpage --outbound 127.0.0.1:15001   # every upstream call via a sidecar
`

type serveOpts struct {
	service, version, listen, outbound, sessionSecret string
	pool                                              bool
	env                                               []string
	details, reviews, ratings                         string
	starColor, podname, clusterName                   string
}

var serve serveOpts

func serveFlags(fs *pflag.FlagSet) {
	serve = serveOpts{}
	fs.StringVar(&serve.service, "service", "", "service to run: "+strings.Join(bookinfo.Services, ", ")+" (required)")
	fs.StringVar(&serve.version, "version", "", "reviews: v1, v2 or v3; ratings: "+strings.Join(bookinfo.RatingsVersions, ", ")+" (default $SERVICE_VERSION)")
	fs.StringVar(&serve.listen, "listen", ":9080", "address to accept requests on (port 0 picks a free one)")
	fs.StringVar(&serve.outbound, "outbound", "", "dial every upstream connection to this host:port instead (an outbound sidecar; requests still name the logical service)")
	fs.BoolVar(&serve.pool, "pool", false, "productpage: keep upstream connections alive (the original opens a new one per call)")
	fs.StringVar(&serve.details, "details", "", "productpage: details at host:port (sets DETAILS_HOSTNAME and DETAILS_SERVICE_PORT)")
	fs.StringVar(&serve.reviews, "reviews", "", "productpage: reviews at host:port (sets REVIEWS_HOSTNAME and REVIEWS_SERVICE_PORT)")
	fs.StringVar(&serve.ratings, "ratings", "", "productpage and reviews: ratings at host:port (sets RATINGS_HOSTNAME and RATINGS_SERVICE_PORT)")
	fs.StringVar(&serve.starColor, "star-color", "", "reviews: star color (sets STAR_COLOR)")
	fs.StringVar(&serve.podname, "podname", "", "reviews: the podname it reports (sets HOSTNAME)")
	fs.StringVar(&serve.clusterName, "cluster-name", "", "reviews: the clustername it reports (sets CLUSTER_NAME)")
	fs.StringVar(&serve.sessionSecret, "session-secret", "", "productpage: key signing the session cookie, at least 16 bytes, so replicas share sign-ins (default $SESSION_SECRET, else random)")
	fs.StringArrayVar(&serve.env, "env", nil, "set an environment variable for the service, NAME=VALUE (repeatable)")
	for _, h := range serveHooks {
		h.flags(fs)
	}
}

// serveHook extends `nicrt bookinfo serve` from its own file (request logs,
// the simulated NIC): flags, then changes to the service before it serves.
type serveHook struct {
	flags func(fs *pflag.FlagSet)
	// config adjusts the service's configuration before its handler is
	// built (for example wraps DialContext); nil when not needed.
	config func(cfg *bookinfo.Config) error
	// wrap adjusts the listener and the handler before serving; the
	// returned function, if any, runs after serving has stopped and the
	// service has let go of its upstream connections (its error becomes
	// the command's). nil when not needed.
	wrap func(ln net.Listener, h http.Handler) (net.Listener, http.Handler, func() error, error)
}

// serveHooks run in registration order (their files' init order).
var serveHooks []*serveHook

func registerServeHook(h *serveHook) { serveHooks = append(serveHooks, h) }

// serveEnv layers the flags over the process environment.
func serveEnv(o *serveOpts) (func(string) string, error) {
	over := map[string]string{}
	for _, e := range o.env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return nil, usagef("--env %q: want NAME=VALUE", e)
		}
		over[name] = value
	}
	for _, hp := range []struct{ flag, value, prefix string }{
		{"details", o.details, "DETAILS"}, {"reviews", o.reviews, "REVIEWS"}, {"ratings", o.ratings, "RATINGS"},
	} {
		if hp.value == "" {
			continue
		}
		host, port, err := net.SplitHostPort(hp.value)
		if err != nil || host == "" || port == "" {
			return nil, usagef("--%s %q: want host:port", hp.flag, hp.value)
		}
		over[hp.prefix+"_HOSTNAME"], over[hp.prefix+"_SERVICE_PORT"] = host, port
	}
	for name, v := range map[string]string{"STAR_COLOR": o.starColor, "HOSTNAME": o.podname, "CLUSTER_NAME": o.clusterName} {
		if v != "" {
			over[name] = v
		}
	}
	return func(name string) string {
		if v, ok := over[name]; ok {
			return v
		}
		return os.Getenv(name)
	}, nil
}

func runServe(_ *pflag.FlagSet, args []string) (err error) {
	if len(args) != 0 {
		return usagef("unexpected arguments %q", args)
	}
	if serve.service == "" {
		return usagef("--service is required (one of %s)", strings.Join(bookinfo.Services, ", "))
	}
	getenv, err := serveEnv(&serve)
	if err != nil {
		return err
	}
	cfg := bookinfo.Config{Service: serve.service, Version: serve.version, Getenv: getenv, PoolUpstreams: serve.pool}
	secret := serve.sessionSecret
	if secret == "" {
		secret = getenv("SESSION_SECRET")
	}
	if secret != "" {
		cfg.SessionKey = []byte(secret)
	}
	if serve.outbound != "" {
		if _, _, err := net.SplitHostPort(serve.outbound); err != nil {
			return usagef("--outbound %q: want host:port", serve.outbound)
		}
		cfg.DialContext = redirectDialer(serve.outbound)
	}
	for _, hk := range serveHooks {
		if hk.config != nil {
			if err := hk.config(&cfg); err != nil {
				return err
			}
		}
	}
	// What the hooks do after serving runs last, in reverse order, once
	// the handler has closed its upstream connections.
	var afters []func() error
	defer func() {
		for i := len(afters) - 1; i >= 0; i-- {
			if aerr := afters[i](); aerr != nil && err == nil {
				err = aerr
			}
		}
	}()
	h, err := bookinfo.NewHandler(cfg)
	if err != nil {
		return err
	}
	if c, ok := h.(io.Closer); ok {
		defer c.Close()
	}
	ln, err := net.Listen("tcp", serve.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", serve.listen, err)
	}
	for _, hk := range serveHooks {
		if hk.wrap == nil {
			continue
		}
		wln, wh, done, err := hk.wrap(ln, h)
		if err != nil {
			ln.Close()
			return err
		}
		ln, h = wln, wh
		if done != nil {
			afters = append(afters, done)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	label := serve.service
	if serve.version != "" {
		label += " " + serve.version
	}
	// One line when ready, so scripts and `bookinfo up` can wait for it.
	fmt.Printf("bookinfo %s listening on http://%s\n", label, ln.Addr())
	if err := bookinfo.Serve(ctx, ln, h); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bookinfo %s stopped\n", label)
	return nil
}

// redirectDialer sends every connection to addr whatever it was meant for, as
// Istio's iptables REDIRECT sends a pod's outbound traffic to its sidecar.
func redirectDialer(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
