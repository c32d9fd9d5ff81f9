// Package pcapio reads and writes the Ethernet captures the NIC replays and
// produces, with gopacket's pcapgo, at nanosecond resolution. Errors name the
// file, the record number and the byte offset, so a damaged capture can be
// found and fixed.
package pcapio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Record is one captured frame: its timestamp in nanoseconds since the Unix
// epoch and its bytes.
type Record struct {
	Time int64
	Data []byte
	// OrigLen is the frame's length on the wire; more than len(Data) when
	// the capture truncated it.
	OrigLen int
}

const (
	fileHeaderLen   = 24
	recordHeaderLen = 16
)

// Read reads every record of a pcap stream (microsecond or nanosecond
// format, Ethernet link type; pcapgo also accepts it gzip-compressed, and
// byte offsets in errors are then in the uncompressed stream). name labels
// errors.
func Read(r io.Reader, name string) ([]Record, error) {
	pr, err := pcapgo.NewReader(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap file: %w", name, err)
	}
	if lt := pr.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %v, only Ethernet (1) captures can be replayed", name, lt)
	}
	// pcapgo allocates each record's length as the file states it, bounded
	// only by the header's snap length; bound that so a hostile header
	// cannot make us allocate gigabytes (no frame is larger than this).
	if pr.Snaplen() > SnapLen {
		pr.SetSnaplen(SnapLen)
	}
	var recs []Record
	at := int64(fileHeaderLen) // offset of the next record
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("file ends inside the record (truncated capture)")
			}
			return recs, fmt.Errorf("%s: record %d at byte %d: %w", name, len(recs)+1, at, err)
		}
		recs = append(recs, Record{Time: ci.Timestamp.UnixNano(), Data: data, OrigLen: ci.Length})
		at += recordHeaderLen + int64(len(data))
	}
}

// ReadFile reads a capture file with Read.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// SnapLen is the snapshot length written in headers: large enough for any
// frame the NIC emits.
const SnapLen = 262144

// Writer writes a nanosecond-resolution Ethernet pcap.
type Writer struct {
	bw *bufio.Writer
	w  *pcapgo.Writer
}

// NewWriter writes the pcap file header to w and returns a Writer.
func NewWriter(w io.Writer) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(SnapLen, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &Writer{bw: bw, w: pw}, nil
}

// Write appends one frame with its timestamp in nanoseconds since the epoch.
func (w *Writer) Write(tsNanos int64, data []byte) error {
	ci := gopacket.CaptureInfo{
		Timestamp:     unixNano(tsNanos),
		CaptureLength: len(data),
		Length:        len(data),
	}
	return w.w.WritePacket(ci, data)
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// WriteFile writes records to path, creating or truncating it.
func WriteFile(path string, recs []Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := NewWriter(f)
	if err == nil {
		for _, r := range recs {
			if err = w.Write(r.Time, r.Data); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
