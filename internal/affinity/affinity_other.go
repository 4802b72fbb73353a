//go:build !linux

package affinity

func pair() (int, func(), error) { return 0, nil, ErrUnsupported }
