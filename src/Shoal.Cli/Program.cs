using Shoal.Cli;

// Before the node's threads start allocating: see NativeHeap.
NativeHeap.LimitArenas();
return await CommandLine.RunAsync(args).ConfigureAwait(false);
