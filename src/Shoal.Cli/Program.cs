using Shoal.Cli;

return await CommandLine.RunAsync(args).ConfigureAwait(false);
