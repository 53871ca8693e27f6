package main

import (
	"errors"

	"github.com/spf13/cobra"
	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
)

// agentCmd runs a guest agent on the guest end of a channel.
func agentCmd() *cobra.Command {
	var cli agent.CLI
	cmd := &cobra.Command{
		Use:   "agent --port PATH [--protocol json|line] [--fault MODE] [--allow cmd,cmd] [--root DIR]",
		Short: "Serve a guest agent on a virtio port or pty slave (the guest end of a channel)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := cli.Run(cmd.Context()) // cancelled on SIGINT/SIGTERM (run)
			switch {
			case errors.Is(err, agent.ErrUsage):
				return withCode(exitUsage, err)
			case err != nil:
				return withCode(exitFailed, err)
			}
			return nil
		},
	}
	cli.Bind(cmd.Flags())
	return cmd
}

func init() { rootCmd.AddCommand(agentCmd()) }
