package pcapio

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripNanoseconds(t *testing.T) {
	recs := []Record{
		{Time: 1_700_000_000_123_456_789, Data: []byte{1, 2, 3, 4}},
		{Time: 1_700_000_000_123_456_790, Data: bytes.Repeat([]byte{9}, 1514)},
	}
	p := filepath.Join(t.TempDir(), "x.pcap")
	if err := WriteFile(p, recs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records", len(got))
	}
	for i := range recs {
		if got[i].Time != recs[i].Time || !bytes.Equal(got[i].Data, recs[i].Data) || got[i].OrigLen != len(recs[i].Data) {
			t.Errorf("record %d: %+v", i, got[i])
		}
	}
	// The file header carries the nanosecond magic.
	raw, _ := os.ReadFile(p)
	if m := binary.LittleEndian.Uint32(raw); m != 0xa1b23c4d {
		t.Errorf("magic %#x, want nanosecond pcap", m)
	}
}

func TestReadErrors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	w.Write(1, []byte("abcdef"))
	w.Write(2, []byte("ghijkl"))
	w.Flush()
	full := buf.Bytes()
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"not pcap", "not a pcap", []byte("hello world, this is not a capture file")},
		{"truncated record", "record 2 at byte 46: file ends inside the record", full[:len(full)-3]},
		{"link type", "only Ethernet", func() []byte {
			b := bytes.Clone(full)
			binary.LittleEndian.PutUint32(b[20:], 101) // raw IP
			return b
		}()},
	} {
		_, err := Read(bytes.NewReader(tc.data), "in.pcap")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "in.pcap: ") {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A record header alone at the end is also reported with its position.
	_, err := Read(bytes.NewReader(full[:len(full)-6-8]), "in.pcap")
	if err == nil || !strings.Contains(err.Error(), "record 2 at byte 46") {
		t.Errorf("torn header: %v", err)
	}
}

func TestHugeRecordRefused(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	w.Write(1, []byte("abcdef"))
	w.Flush()
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[16:], 0xffffffff)    // snap length
	binary.LittleEndian.PutUint32(b[24+8:], 0x7fffffff)  // caplen
	binary.LittleEndian.PutUint32(b[24+12:], 0x7fffffff) // orig len
	_, err := Read(bytes.NewReader(b), "big.pcap")
	if err == nil || !strings.Contains(err.Error(), "record 1") {
		t.Errorf("2 GB record: %v", err)
	}
}

// FuzzRead: arbitrary bytes as a capture file never panic, and what is read
// stays within the input.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	w.Write(1, []byte("abcdef"))
	w.Write(2_000_000_000, bytes.Repeat([]byte{1}, 70))
	w.Flush()
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:30])
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := Read(bytes.NewReader(data), "fuzz.pcap")
		n := 0
		for _, r := range recs {
			n += len(r.Data)
		}
		if n > len(data) {
			t.Fatalf("read %d bytes of records from %d bytes", n, len(data))
		}
	})
}
