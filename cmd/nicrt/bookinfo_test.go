package main

import (
	"io"
	"testing"
)

// TestBookinfoInvocations: wrong invocations end with a usage error (status
// 2) and bad configuration with status 1, before anything listens.
func TestBookinfoInvocations(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"bookinfo"}, 2},
		{[]string{"bookinfo", "nope"}, 2},
		{[]string{"bookinfo", "--help"}, 0},
		{[]string{"help", "bookinfo"}, 0},
		{[]string{"bookinfo", "serve", "--help"}, 0},
		{[]string{"bookinfo", "serve"}, 2},
		{[]string{"bookinfo", "serve", "--service", "details", "extra"}, 2},
		{[]string{"bookinfo", "serve", "--no-such-flag"}, 2},
		{[]string{"bookinfo", "serve", "--service", "details", "--env", "NOVALUE"}, 2},
		{[]string{"bookinfo", "serve", "--service", "productpage", "--details", "nohostport"}, 2},
		{[]string{"bookinfo", "serve", "--service", "productpage", "--outbound", "nohostport"}, 2},
		{[]string{"bookinfo", "serve", "--service", "frontend", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"bookinfo", "serve", "--service", "reviews", "--version", "v9", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"bookinfo", "serve", "--service", "productpage", "--env", "DETAILS_SERVICE_PORT=x", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"bookinfo", "serve", "--service", "details", "--listen", "256.0.0.1:1"}, 1},
	} {
		if got := runMain(c.args, io.Discard, io.Discard); got != c.code {
			t.Errorf("nicrt %q exited %d, want %d", c.args, got, c.code)
		}
	}
}

// TestServeEnvLayering: flags win over --env, which wins over the process
// environment.
func TestServeEnvLayering(t *testing.T) {
	t.Setenv("REVIEWS_HOSTNAME", "from-process")
	t.Setenv("STAR_COLOR", "from-process")
	o := serveOpts{env: []string{"STAR_COLOR=from-env-flag", "X=a=b"}, reviews: "10.0.0.7:9083", starColor: ""}
	get, err := serveEnv(&o)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"REVIEWS_HOSTNAME": "10.0.0.7", "REVIEWS_SERVICE_PORT": "9083", "STAR_COLOR": "from-env-flag", "X": "a=b"} {
		if got := get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	o.starColor = "from-flag"
	get, _ = serveEnv(&o)
	if got := get("STAR_COLOR"); got != "from-flag" {
		t.Errorf("STAR_COLOR = %q, want the flag's value", got)
	}
}
