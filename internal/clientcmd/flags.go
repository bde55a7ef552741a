package clientcmd

import (
	"flag"

	"github.com/bulkid/bulkid/client"
)

// clientFlags are the flags of the commands that talk to a server.
type clientFlags struct {
	url, token string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "http://127.0.0.1:8080", "the server's base URL (or the hosted service's)")
	fs.StringVar(&f.token, "token", "", "the app's API key")
}

// client returns an SDK client for the flags.
func (f *clientFlags) client() *client.Client {
	c := client.New(f.url, f.token)
	c.UserAgent = "bulkid-cli"
	return c
}
