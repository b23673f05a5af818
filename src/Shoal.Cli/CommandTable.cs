namespace Shoal.Cli;

/// <summary>What a flag's value is: nothing (a switch), free text, or something a shell can complete.</summary>
public enum FlagValue
{
    None,
    Text,
    Directory,
    File,
    Choice,
}

/// <summary>What a command takes after its flags, for completion.</summary>
public enum Operands
{
    None,
    Files,
    Links,
    ConfigKey,
    Command,
    Shell,
    Text,
}

/// <summary>One flag of a command; <see cref="Repeatable"/> ones may be given several times.</summary>
public sealed record Flag(string Name, FlagValue Value, string Help, bool Repeatable = false, params string[] Choices)
{
    public bool TakesValue => Value != FlagValue.None;
}

/// <summary>One command: its flags and operands. Parsing and shell completion both read them from here.</summary>
public sealed record CommandSpec(string Name, string Summary, Operands Operands, IReadOnlyList<Flag> Flags)
{
    public IReadOnlySet<string> ValueFlags { get; } = Flags.Where(f => f.TakesValue).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);

    public IReadOnlySet<string> Switches { get; } = Flags.Where(f => !f.TakesValue).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
}

/// <summary>Every command with its flags: the one list <see cref="CommandLine"/> parses with and completion is generated from.</summary>
public static class CommandTable
{
    private static readonly Flag Home = new("--home", FlagValue.Directory, "the node's home directory (default: SHOAL_HOME, else ~/.local/share/shoal)");
    private static readonly Flag Json = new("--json", FlagValue.None, "print one JSON document on stdout");
    private static readonly Flag LogLevel = new("--log-level", FlagValue.Choice, "least severe log entries shown", false, "trace", "debug", "information", "warning", "error");
    private static readonly Flag LogFormat = new("--log-format", FlagValue.Choice, "log lines: plain, json, or systemd (journal priorities; the default under systemd)", false, "plain", "json", "systemd");

    public static IReadOnlyList<CommandSpec> All { get; } =
    [
        Command("init", "create this node (and a network, unless joining)", Operands.None,
            new("--name", FlagValue.Text, "this node's name"),
            new("--folder", FlagValue.Directory, "the synced folder"),
            new("--join", FlagValue.Text, "an invite code from 'shoal invite'")),
        Command("invite", "print an invite code for this node's network", Operands.None),
        Command("up", "run the node in the foreground", Operands.None,
            new("--listen", FlagValue.Text, "peer protocol address HOST:PORT"),
            new("--api", FlagValue.Text, "web UI and API address HOST:PORT"),
            new("--peer", FlagValue.Text, "a peer to keep connected to, HOST:PORT", Repeatable: true),
            new("--tracker", FlagValue.Text, "a tracker's URL", Repeatable: true),
            new("--folder", FlagValue.Directory, "the synced folder"),
            new("--limit-up", FlagValue.Text, "upload limit, bytes per second (e.g. 20M)"),
            new("--limit-down", FlagValue.Text, "download limit, bytes per second (e.g. 20M)"),
            new("--store-quota", FlagValue.Text, "room for chunks kept for others (e.g. 50G)"),
            new("--down-after", FlagValue.Text, "seconds before a silent node counts as down"),
            new("--max-peers", FlagValue.Text, "peer links at once; more are asked to come back later (0: no limit)"),
            new("--allow-subnet", FlagValue.Text, "only peers from this subnet (CIDR)", Repeatable: true),
            new("--discovery-port", FlagValue.Text, "UDP port of LAN discovery"),
            new("--no-discovery", FlagValue.None, "no LAN announcements"),
            LogLevel,
            LogFormat),
        Command("status", "this node, its network and peers", Operands.None, Json),
        Command("peers", "known nodes, online or offline", Operands.None, Json),
        Command("share", "publish files from where they are; prints links", Operands.Files, Json),
        Command("put", "store files into the network, N copies of each chunk", Operands.Files,
            new("--replicas", FlagValue.Text, "copies of every chunk (default 2)"),
            Json),
        Command("get", "download from every node that has the file", Operands.Links,
            new("-o", FlagValue.Directory, "directory to download into"),
            new("--output", FlagValue.Directory, "directory to download into"),
            new("--wait", FlagValue.Text, "seconds to wait for a source (default 60)"),
            new("--detach", FlagValue.None, "return once the node has accepted the download")),
        Command("transfers", "downloads: state, progress, rate, ETA, sources", Operands.None, Json),
        Command("pause", "stop a download, keeping what it has", Operands.Links),
        Command("resume", "carry on with a download (or retry a failed one)", Operands.Links),
        Command("ls", "files known in the network", Operands.Text, Json),
        Command("folder", "the synced folder: state and recent changes", Operands.None,
            new("--events", FlagValue.Text, "how many recent changes to show (default 20)"),
            Json),
        Command("rm", "stop sharing a file (a put file: remove it everywhere)", Operands.Links),
        Command("revoke", "remove a device from the network", Operands.Text),
        Command("config", "show or change settings", Operands.ConfigKey, Json),
        Command("password", "set the web UI password (read from stdin)", Operands.None,
            new Flag("--clear", FlagValue.None, "remove the password")),
        Command("top", "live view of peers, transfers and folder events", Operands.None),
        Command("tracker", "run a tracker for nodes on different networks", Operands.None,
            new("--listen", FlagValue.Text, "address to serve on, HOST:PORT"),
            new("--db", FlagValue.File, "SQLite file, or a postgres:// URL"),
            new("--interval", FlagValue.Text, "seconds between a node's announces"),
            new("--relay", FlagValue.Text, "a relay (HOST:PORT) to offer to the nodes", Repeatable: true),
            LogLevel,
            LogFormat),
        Command("relay", "forward traffic between nodes behind NATs", Operands.None,
            new("--listen", FlagValue.Text, "address to serve on, HOST:PORT"),
            new("--rate", FlagValue.Text, "bytes per second per network (e.g. 20M)"),
            new("--sessions", FlagValue.Text, "sessions at once per network"),
            LogLevel,
            LogFormat),
        new("completion", "print a shell completion script (bash or zsh)", Operands.Shell, []),
        new("help", "show a command's options and examples", Operands.Command, []),
    ];

    public static CommandSpec? Find(string name) => All.FirstOrDefault(c => c.Name == name);

    /// <summary>Every command that works on a node's home takes --home.</summary>
    private static CommandSpec Command(string name, string summary, Operands operands, params Flag[] flags) =>
        new(name, summary, operands, [.. flags, Home]);
}
