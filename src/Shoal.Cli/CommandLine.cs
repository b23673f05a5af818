using Shoal.Cli.Commands;
using Shoal.Node.Home;

namespace Shoal.Cli;

public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int NodeNotRunning = 3;
    public const int Incomplete = 4;
}

/// <summary>Dispatches a command line to its command and turns failures into one line on stderr and an exit code.</summary>
public static class CommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Out.Write(Help.Overview);
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Success;
        }

        if (args[0] is "--version" or "version")
        {
            Console.Out.WriteLine($"shoal {typeof(CommandLine).Assembly.GetName().Version?.ToString(3)}");
            return ExitCodes.Success;
        }

        var command = args[0];
        var rest = args.Skip(1).ToArray();
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            return Help.Print(command);
        }

        using var cancel = new CancellationTokenSource();
        try
        {
            return command switch
            {
                "help" => rest.Length == 0 ? PrintOverview() : Help.Print(rest[0]),
                "init" => NodeCommands.Init(Parse(command, rest, ["--name", "--folder", "--join"], [])),
                "invite" => NodeCommands.Invite(Parse(command, rest, [], [])),
                "up" => await NodeCommands.UpAsync(Parse(command, rest, ["--listen", "--api", "--peer", "--tracker", "--folder", "--limit-up", "--limit-down", "--store-quota", "--down-after", "--log-level", "--allow-subnet", "--discovery-port"], ["--no-discovery"])).ConfigureAwait(false),
                "status" => await InfoCommands.StatusAsync(Parse(command, rest, [], ["--json"]), cancel.Token).ConfigureAwait(false),
                "peers" => await InfoCommands.PeersAsync(Parse(command, rest, [], ["--json"]), cancel.Token).ConfigureAwait(false),
                "share" => await FileCommands.ShareAsync(Parse(command, rest, [], ["--json"]), cancel.Token).ConfigureAwait(false),
                "get" => await FileCommands.GetAsync(Parse(command, rest, ["-o", "--output", "--wait"], ["--detach"]), cancel.Token).ConfigureAwait(false),
                "ls" => await FileCommands.ListAsync(Parse(command, rest, [], ["--json"]), cancel.Token).ConfigureAwait(false),
                "pause" => await FileCommands.PauseOrResumeAsync(Parse(command, rest, [], []), "pause", cancel.Token).ConfigureAwait(false),
                "resume" => await FileCommands.PauseOrResumeAsync(Parse(command, rest, [], []), "resume", cancel.Token).ConfigureAwait(false),
                "password" => NodeCommands.Password(Parse(command, rest, [], ["--clear"])),
                "rm" => await FileCommands.RemoveAsync(Parse(command, rest, [], []), cancel.Token).ConfigureAwait(false),
                "revoke" => await InfoCommands.RevokeAsync(Parse(command, rest, [], []), cancel.Token).ConfigureAwait(false),
                "put" => await FileCommands.PutAsync(Parse(command, rest, ["--replicas"], ["--json"]), cancel.Token).ConfigureAwait(false),
                "tracker" => await TrackerCommand.RunAsync(Parse(command, rest, ["--listen", "--db", "--interval", "--log-level"], [])).ConfigureAwait(false),
                "top" => NotYet(command),
                _ => throw new UsageException($"unknown command '{command}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"shoal {command}: {e.Message} (see 'shoal help {command}')");
            return ExitCodes.Usage;
        }
        catch (NodeNotRunningException e)
        {
            Console.Error.WriteLine($"shoal: {e.Message}");
            return ExitCodes.NodeNotRunning;
        }
        catch (Exception e) when (e is ApiException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or InvalidDataException or FormatException)
        {
            Console.Error.WriteLine($"shoal {command}: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    private static int PrintOverview()
    {
        Console.Out.Write(Help.Overview);
        return ExitCodes.Success;
    }

    private static int NotYet(string command)
    {
        Console.Error.WriteLine($"shoal {command}: not available in this version yet");
        return ExitCodes.Failure;
    }

    private static Arguments Parse(string command, string[] args, string[] valueFlags, string[] switches) =>
        Arguments.Parse(command, args, new HashSet<string>(valueFlags.Append("--home")), new HashSet<string>(switches));

    public static NodeHome HomeOf(Arguments args) => NodeHome.Resolve(args.Value("--home"));
}
