//go:build linux

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/pcapio"
)

// nicProc is a running `nicrt nic` relay process.
type nicProc struct {
	cmd    *exec.Cmd
	addr   string
	admin  string      // the admin API's address, with --admin
	out    *syncBuffer // stdout after the first line
	stderr *syncBuffer
	done   chan error
}

// startNICProc runs `nicrt nic --listen 127.0.0.1:0 args...` and waits for
// its first line, which names the address it listens on (and, with
// --admin, the second, naming the admin API's). The process is killed at
// the end of the test if it still runs.
func startNICProc(t *testing.T, bin string, args ...string) *nicProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"nic", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &nicProc{cmd: cmd, out: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	withAdmin := false
	for _, a := range args {
		withAdmin = withAdmin || a == "--admin"
	}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		if withAdmin {
			second, _ := br.ReadString('\n')
			line += second
		}
		first <- line
		io.Copy(p.out, br)
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-first:
		_, rest, ok := strings.Cut(line, "listening on ")
		addr, _, ok2 := strings.Cut(rest, ",")
		if !ok || !ok2 {
			t.Fatalf("no listening line (got %q); stderr:\n%s", line, p.stderr)
		}
		p.addr = addr
		if withAdmin {
			_, rest, ok := strings.Cut(line, "admin API on ")
			p.admin, _, _ = strings.Cut(rest, " ")
			if !ok || p.admin == "" {
				t.Fatalf("no admin API line (got %q); stderr:\n%s", line, p.stderr)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("nicrt nic did not start; stderr:\n%s", p.stderr)
	}
	return p
}

// stop sends SIGTERM and returns the exit error (nil: status 0).
func (p *nicProc) stop(t *testing.T) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("nicrt nic ignored SIGTERM; stderr:\n%s", p.stderr)
		return nil
	}
}

// TestNICLiveProcess runs the relay as a real process in front of an HTTP
// service, with a filter and a capture: requests pass (with the filter's
// header), SIGTERM stops it gracefully with the summary and status 0, and
// the capture holds valid frames of the exchanges, SYN to FIN.
func TestNICLiveProcess(t *testing.T) {
	bin := buildNicrt(t)
	dir := t.TempDir()
	guest := filepath.Join(dir, "testguest.wasm")
	if err := os.WriteFile(guest, wasmbuild.Go(t, "../../runtime/testdata/guests/testguest"), 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path+" x-bench="+r.Header.Get("x-bench"))
	})}
	go srv.Serve(up)
	defer srv.Close()
	capture := filepath.Join(dir, "live.pcap")
	p := startNICProc(t, bin, "--upstream", up.Addr().String(), "--model", "passthrough-100us",
		"--filter", guest+":bench=1", "--pcap", capture)

	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 3; i++ {
		resp, err := client.Get("http://" + p.addr + "/page")
		if err != nil {
			t.Fatalf("GET through the relay: %v; stderr:\n%s", err, p.stderr)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello /page x-bench=1" {
			t.Fatalf("answer %q", b)
		}
	}
	client.CloseIdleConnections()
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, p.stderr)
	}
	out := p.out.String()
	for _, want := range []string{"nicsim live summary: model passthrough-100us", "relay 1", "underruns:", "engines: 6 messages", live_pcap(capture)} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	recs, err := pcapio.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	streams := map[bool][]byte{} // by "from the client"
	parser := frame.NewParser()
	pks := make([]frame.Packet, len(recs))
	var client4 frame.Endpoint
	for i, r := range recs {
		pk := &pks[i]
		if err := parser.Parse(r.Data, pk); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if pk.Flags&(frame.SYN|frame.FIN|frame.RST) != 0 {
			flags = append(flags, pk.Flags.String())
		}
		if pk.Flags&(frame.SYN|frame.ACK) == frame.SYN {
			client4 = pk.Src
		}
	}
	for _, pk := range pks {
		fromClient := pk.Src == client4
		streams[fromClient] = append(streams[fromClient], pk.Payload...)
	}
	if got := strings.Join(flags, " "); strings.Count(got, "S") != 2 || !strings.Contains(got, "S.") || strings.Count(got, "F") != 2 {
		t.Errorf("control frames %q: want a SYN, a SYN-ACK and two FINs", got)
	}
	if n := bytes.Count(streams[true], []byte("\r\nx-bench: 1\r\n")); n != 3 {
		t.Errorf("the capture holds %d requests with the filter's header, want 3:\n%s", n, streams[true])
	}
	if n := bytes.Count(streams[false], []byte("hello /page x-bench=1")); n != 3 {
		t.Errorf("the capture holds %d responses, want 3", n)
	}
}

func live_pcap(path string) string { return "simulated departure times: " + path }

// TestNICLiveUsage: wrong invocations of the live relay say what is wrong.
func TestNICLiveUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nic", "--listen", "127.0.0.1:0"}, "needs --listen ADDR and --upstream ADDR"},
		{[]string{"nic", "--listen", "127.0.0.1:0", "--upstream", "nope"}, `--upstream "nope"`},
		{[]string{"nic", "bogus", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"}, `unknown mode "bogus"`},
		{[]string{"nic", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--model", "nope"}, `"nope" is neither a preset`},
		{[]string{"nic", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--filter", "x.txt"}, "is not a .wasm file"},
		{[]string{"nic", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--admin", "0.0.0.0:0"}, "refusing to listen on 0.0.0.0:0 without a token"},
		{[]string{"nic", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--admin", "127.0.0.1:0", "--admin-token-file", "/nonexistent"}, "--admin-token-file: open /nonexistent"},
	} {
		code, _, stderr := nicRun(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", c.args, code, stderr, c.want)
		}
	}
}
