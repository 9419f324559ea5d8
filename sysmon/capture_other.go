//go:build !unix

package sysmon

func startStream(Stream, int) (*stream, error) { return nil, ErrCaptureUnsupported }

func (st *stream) stop() error { return nil }
