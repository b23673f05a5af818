using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Shoal.Faults;

const string Usage = """
    usage: Shoal.FaultProxy --listen HOST:PORT --target HOST:PORT [--seed N] [--schedule "TIME ACTION; ..."] [--random INTERVAL]
      Forwards TCP connections from --listen to --target with faults, until Ctrl-C or SIGTERM.
      --seed      seeds every random choice (default: a random seed, printed first so a run can be replayed)
      --schedule  faults on a timeline from the start, e.g. "2s down delay 100ms; 5s stall 3s; 10s cut; 12s down flip-after 64K; 20s clear"
                  actions: cut | refuse | accept | clear | [up|down|both] delay DURATION | throttle RATE|off | stall [DURATION] |
                  resume | flip PROBABILITY | flip-after BYTES   (up: client to target, down: target to client)
      --random    every INTERVAL (e.g. 5s), clear the last fault and apply a random one drawn from the seed
    example:
      dotnet tools/Shoal.FaultProxy/bin/Release/net10.0/Shoal.FaultProxy.dll --listen 10.77.5.2:7500 --target 10.77.5.3:7420 --seed 7 --random 5s
    """;

string? listen = null, target = null, schedule = null;
TimeSpan? random = null;
var seed = Random.Shared.Next();
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--listen": listen = Value(); break;
            case "--target": target = Value(); break;
            case "--seed": seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
            case "--schedule": schedule = Value(); break;
            case "--random": random = FaultAction.ParseDuration(Value()); break;
            case "-h" or "--help":
                Console.WriteLine(Usage);
                return 0;
            default: throw new FormatException($"unknown option {args[i]}");
        }
    }

    if (listen is null || target is null) throw new FormatException("--listen and --target are required");
    if (random is { } interval && interval <= TimeSpan.Zero) throw new FormatException("--random needs a positive interval");
    var parsedSchedule = schedule is null ? null : FaultSchedule.Parse(schedule);

    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });

    await using var proxy = FaultProxy.Start(IPEndPoint.Parse(target), IPEndPoint.Parse(listen), seed);
    Console.WriteLine($"faultproxy: seed {seed}; listening on {proxy.EndPoint}, forwarding to {target}");
    var started = TimeProvider.System.GetTimestamp();
    void Log(string what) => Console.WriteLine($"faultproxy: {TimeProvider.System.GetElapsedTime(started).TotalSeconds,8:0.000}s {what}");
    var tasks = new List<Task> { Task.Delay(Timeout.Infinite, stop.Token) };
    if (parsedSchedule is not null) tasks.Add(parsedSchedule.RunAsync(proxy, Log, TimeProvider.System, stop.Token));
    if (random is { } every) tasks.Add(RandomFaults.RunAsync(proxy, new Random(seed), every, Log, TimeProvider.System, stop.Token));
    try
    {
        await Task.WhenAll(tasks);
    }
    catch (OperationCanceledException)
    {
        // Ctrl-C or SIGTERM.
    }

    Console.WriteLine($"faultproxy: {proxy.ConnectionsAccepted} connections; {proxy.Upstream}; {proxy.Downstream}");
    return 0;
}
catch (FormatException e)
{
    Console.Error.WriteLine($"faultproxy: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
