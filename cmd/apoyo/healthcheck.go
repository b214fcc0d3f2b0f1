package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/apoyo-cdmx/apoyo"
)

// newHealthcheckCmd is the containers' health check: the image has no
// curl, and needs none.
func newHealthcheckCmd(a *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck URL",
		Short: "Exit 0 if URL answers 200 within 5 s (a container's health check: /healthz of serve, /metrics of a worker)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := &http.Client{Timeout: 5 * time.Second}
			resp, err := c.Get(args[0])
			if err != nil {
				return apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.unhealthy", "%s does not answer", args[0])
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.unhealthy", "%s answered %s", args[0], resp.Status)
			}
			fmt.Fprintln(a.out, "healthy")
			return nil
		},
	}
}
