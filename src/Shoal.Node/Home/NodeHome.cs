namespace Shoal.Node.Home;

/// <summary>Where one node keeps everything: identity, config, database, partial downloads, runtime info.</summary>
public sealed class NodeHome(string root)
{
    public const string EnvironmentVariable = "SHOAL_HOME";

    public string Root { get; } = Path.GetFullPath(root);

    public string ConfigPath => Path.Combine(Root, "config.json");

    public string MembershipPath => Path.Combine(Root, "network.key");

    public string DatabasePath => Path.Combine(Root, "shoal.db");

    public string PartialDirectory => Path.Combine(Root, "partial");

    /// <summary>Written by a running node: its API address and access token. Commands find the node through it.</summary>
    public string RuntimePath => Path.Combine(Root, "api.json");

    public string LockPath => Path.Combine(Root, "node.lock");

    public string DefaultFolder => Path.Combine(Root, "folder");

    /// <summary>Where downloads go when config.json names no <c>downloads</c> directory.</summary>
    public string DefaultDownloads => Path.Combine(Root, "downloads");

    /// <summary>Where the synced folder keeps what it deleted or replaced.</summary>
    public string TrashDirectory => Path.Combine(Root, "trash");

    /// <summary>Chunks kept for the network (put files), content-addressed.</summary>
    public string StoreDirectory => Path.Combine(Root, "store");

    public bool IsInitialised => File.Exists(ConfigPath) && File.Exists(MembershipPath);

    /// <summary>--home, else SHOAL_HOME, else $XDG_DATA_HOME/shoal, else ~/.local/share/shoal.</summary>
    public static NodeHome Resolve(string? explicitHome)
    {
        if (!string.IsNullOrWhiteSpace(explicitHome)) return new NodeHome(explicitHome);
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return new NodeHome(fromEnvironment);
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var dataHome = string.IsNullOrWhiteSpace(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share")
            : xdg;
        return new NodeHome(Path.Combine(dataHome, "shoal"));
    }

    public void EnsureCreated()
    {
        Directory.CreateDirectory(Root);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.CreateDirectory(PartialDirectory);
    }
}
