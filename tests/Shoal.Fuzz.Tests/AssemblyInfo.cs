// One fuzz run at a time: each measures its inputs' time and allocations, and the machine's cores are shared anyway.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
