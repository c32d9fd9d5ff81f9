package pcapio

import "time"

func unixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }
