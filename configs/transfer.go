package configs

import (
	"errors"
	"regexp"
	"sort"
	"strings"
)

// Transfer modes (DESIGN "Transfer"), the values of sip.transfer_mode and
// of a leaf's transfer_mode.
const (
	// TransferBridge: hotlined calls the agent itself (a B2BUA) with the
	// work order as real headers, then joins the two legs.
	TransferBridge = "bridge"
	// TransferRefer: REFER to the caller's side, the work order in the
	// Refer-To URI's headers.
	TransferRefer = "refer"
)

// TransferModes lists the transfer modes.
var TransferModes = []string{TransferBridge, TransferRefer}

// queueRe is a queue name: the user part of a SIP URI, plain.
var queueRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// checkACDURI accepts "sip:host[:port][;params]" or sips:, with no user
// part (the leaves give it) and no URI headers.
func checkACDURI(u string) error {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || (scheme != "sip" && scheme != "sips") {
		return errors.New("must be a sip: or sips: URI like sip:acd.example.com:5060; got " + quote(u))
	}
	hostPart, _, _ := strings.Cut(rest, ";")
	switch {
	case strings.Contains(rest, "@"):
		return errors.New("names the contact centre only, no user part (leaves give the queue); got " + quote(u))
	case strings.Contains(rest, "?"):
		return errors.New("takes no URI headers; got " + quote(u))
	case hostPart == "" || strings.HasPrefix(hostPart, ":"):
		return errors.New("has no host; got " + quote(u))
	}
	return nil
}

func quote(s string) string { return `"` + s + `"` }

// Transfer is where and how a call that reached leaf l goes to an agent:
// the target URI (the leaf's transfer URI, else sip:QUEUE@ the contact
// centre of sip.acd_uri; "" when the leaf has neither, or a queue and no
// contact centre) and the mode (HOTLINED_TRANSFER_MODE, else the leaf's,
// else sip.transfer_mode).
func (c *Config) Transfer(l *Leaf) (target, mode string) {
	mode = c.SIP.TransferMode
	if l.TransferMode != "" && !c.SIP.transferModeForced {
		mode = l.TransferMode
	}
	switch {
	case l.Transfer != "":
		target = l.Transfer
	case l.Queue != "" && c.SIP.ACDURI != "":
		scheme, rest, _ := strings.Cut(c.SIP.ACDURI, ":")
		target = scheme + ":" + l.Queue + "@" + rest
	}
	return target, mode
}

// validateQueues: a leaf that names a queue needs the contact centre.
func validateQueues(c *Config, bad func(string, string, ...any)) {
	if c.SIP.ACDURI != "" {
		return
	}
	var paths []string
	var walk func(path string, n *Node)
	walk = func(path string, n *Node) {
		if n == nil {
			return
		}
		if n.Queue != "" && n.Transfer == "" {
			paths = append(paths, path)
		}
		for k, o := range n.Options {
			walk(path+".options."+k, o)
		}
	}
	for name, m := range c.Menus {
		walk("menus."+name, m)
	}
	if len(paths) > 0 {
		sort.Strings(paths)
		bad("sip.acd_uri", "is empty but %s names a queue: set the contact centre (sip.acd_uri or HOTLINED_ACD_URI), e.g. sip:acd.example.com:5060", paths[0]+".queue")
	}
}
