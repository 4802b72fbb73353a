package workorder

import "github.com/hotlined/hotlined/internal/tickloop"

// tickLoop is the package's background loop shape (internal/tickloop),
// embedded under an unexported name so that only Start and Shutdown show.
type tickLoop = tickloop.Loop

var newTickLoop = tickloop.New
