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
                "init" => NodeCommands.Init(Parse(command, rest)),
                "invite" => NodeCommands.Invite(Parse(command, rest)),
                "up" => await NodeCommands.UpAsync(Parse(command, rest)).ConfigureAwait(false),
                "status" => await InfoCommands.StatusAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "peers" => await InfoCommands.PeersAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "share" => await FileCommands.ShareAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "get" => await FileCommands.GetAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "ls" => await FileCommands.ListAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "pause" => await FileCommands.PauseOrResumeAsync(Parse(command, rest), "pause", cancel.Token).ConfigureAwait(false),
                "resume" => await FileCommands.PauseOrResumeAsync(Parse(command, rest), "resume", cancel.Token).ConfigureAwait(false),
                "password" => NodeCommands.Password(Parse(command, rest)),
                "rm" => await FileCommands.RemoveAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "revoke" => await InfoCommands.RevokeAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "put" => await FileCommands.PutAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "tracker" => await TrackerCommand.RunAsync(Parse(command, rest)).ConfigureAwait(false),
                "relay" => await RelayCommand.RunAsync(Parse(command, rest)).ConfigureAwait(false),
                "transfers" => await InfoCommands.TransfersAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "folder" => await InfoCommands.FolderAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "config" => await ConfigCommand.RunAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                "completion" => CompletionCommand.Run(Parse(command, rest)),
                "top" => await TopCommand.RunAsync(Parse(command, rest), cancel.Token).ConfigureAwait(false),
                _ => throw new UsageException($"unknown command '{command}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(CommandTable.Find(command) is null
                ? $"shoal: {e.Message} (see 'shoal help' for the commands)"
                : $"shoal {command}: {e.Message} (see 'shoal help {command}')");
            return ExitCodes.Usage;
        }
        catch (NodeNotRunningException e)
        {
            Console.Error.WriteLine($"shoal: {e.Message}");
            return ExitCodes.NodeNotRunning;
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            // The web server's port (up --api, tracker --listen) is taken.
            Console.Error.WriteLine($"shoal {command}: {e.Message.TrimEnd('.')} (another program has that port? pick another with {(command == "up" ? "--api" : "--listen")})");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is ApiException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or InvalidDataException or FormatException)
        {
            Console.Error.WriteLine($"shoal {command}: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever else goes wrong (a database, the network) is still one line, never a stack trace.
            Console.Error.WriteLine($"shoal {command}: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    private static int PrintOverview()
    {
        Console.Out.Write(Help.Overview);
        return ExitCodes.Success;
    }

    /// <summary>Parses with the command's flags from <see cref="CommandTable"/>, the list completion is generated from too.</summary>
    private static Arguments Parse(string command, string[] args)
    {
        var spec = CommandTable.Find(command) ?? throw new InvalidOperationException($"'{command}' is missing from the command table");
        return Arguments.Parse(command, args, spec.ValueFlags, spec.Switches);
    }

    public static NodeHome HomeOf(Arguments args) => NodeHome.Resolve(args.Value("--home"));
}
