using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Shoal.Bench;

/// <summary>
/// A private PostgreSQL server started from the installed binaries (<c>/usr/lib/postgresql/N/bin</c>, the newest N):
/// its own data directory, a free port on 127.0.0.1, the superuser <see cref="User"/> with trust authentication.
/// Disposing stops it and removes the directory. It needs nothing but the BCL and Npgsql, so that a test fixture can
/// use it as it is.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    public const string User = "shoal";

    private const string InstallRoot = "/usr/lib/postgresql";

    // The free port is found by binding and letting go; another process may take it meanwhile.
    private const int StartAttempts = 3;

    private readonly string _binaries;
    private bool _disposed;

    private PostgresCluster(string binaries, string directory)
    {
        _binaries = binaries;
        Root = directory;
    }

    /// <summary>Holds the data directory, the server's log and its Unix socket.</summary>
    public string Root { get; }

    public int Port { get; private set; }

    /// <summary>What the server says it is (<c>SHOW server_version</c>), such as "15.14 (Debian 15.14-0+deb12u1)".</summary>
    public string Version { get; private set; } = "";

    /// <summary>The maintenance database <c>postgres</c>, as the superuser.</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    /// <summary>The postmaster's process id: the backends serving connections are its children.</summary>
    public int ServerProcessId => int.Parse(File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);

    private string DataDirectory => Path.Combine(Root, "data");

    private string LogPath => Path.Combine(Root, "log");

    // PostgreSQL refuses to run as root; as root, its tools run as the postgres user. On Unix this is the effective user.
    private static bool IsRoot => Environment.UserName == "root";

    /// <summary>The bin directory of the newest installed PostgreSQL, or null when there is none.</summary>
    public static string? FindBinaries()
    {
        if (!Directory.Exists(InstallRoot)) return null;
        return Directory.GetDirectories(InstallRoot)
            .Select(version => Path.Combine(version, "bin"))
            .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
            .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
            .FirstOrDefault();
    }

    /// <summary>Creates a cluster in <paramref name="directory"/> (made if missing, removed on dispose) and starts it.</summary>
    /// <param name="fsync">
    /// Off: commits skip the disk flush, which makes writes much cheaper and a crash able to corrupt the cluster; fine
    /// for tests, not what a deployment runs.
    /// </param>
    /// <exception cref="InvalidOperationException">PostgreSQL is not installed, or a tool failed (with its output).</exception>
    public static async Task<PostgresCluster> StartAsync(string directory, bool fsync, CancellationToken cancellationToken)
    {
        var binaries = FindBinaries() ?? throw new InvalidOperationException($"PostgreSQL is not installed (no {InstallRoot}/*/bin/initdb)");
        var cluster = new PostgresCluster(binaries, Path.GetFullPath(directory));
        try
        {
            Directory.CreateDirectory(cluster.Root);
            if (IsRoot) await RunAsync("chown", ["postgres:", cluster.Root], cancellationToken).ConfigureAwait(false);

            // Nothing here outlives the cluster, so initdb need not flush what it writes.
            await cluster.RunToolAsync("initdb", ["-D", cluster.DataDirectory, "-A", "trust", "-U", User, "--no-sync"], cancellationToken).ConfigureAwait(false);
            for (var attempt = 1; ; attempt++)
            {
                cluster.Port = FreePort();
                var settings = $"-c listen_addresses=127.0.0.1 -p {cluster.Port} -k \"{cluster.Root}\" -c fsync={(fsync ? "on" : "off")} -c max_connections=200";
                try
                {
                    await cluster.RunToolAsync("pg_ctl", ["-D", cluster.DataDirectory, "-o", settings, "-l", cluster.LogPath, "-w", "start"], cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (InvalidOperationException) when (attempt < StartAttempts)
                {
                    // Most likely the port was taken meanwhile: try another.
                }
            }

            await using var dataSource = NpgsqlDataSource.Create(cluster.ConnectionString);
            await using var command = dataSource.CreateCommand("SHOW server_version");
            cluster.Version = (string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Creates an empty database and returns the Npgsql connection string for it.</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken cancellationToken)
    {
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException("a database name here is lower-case letters, digits and underscores", nameof(name));
        }

        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        await using var command = dataSource.CreateCommand($"CREATE DATABASE {name}");
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return ConnectionStringFor(name);
    }

    /// <summary>Stops the server (fast: open connections are ended) and removes the directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"], CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Removing the directory still ends a server that would not stop: the postmaster shuts itself down
            // within a minute of finding its postmaster.pid gone.
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Never created.
        }
    }

    private string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = User, Database = database }.ToString();

    private async Task RunToolAsync(string tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var program = Path.Combine(_binaries, tool);
        try
        {
            if (IsRoot) await RunAsync("runuser", ["-u", "postgres", "--", program, .. arguments], cancellationToken).ConfigureAwait(false);
            else await RunAsync(program, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (File.Exists(LogPath))
        {
            // pg_ctl says only that the server did not start; why is in the server's log.
            var log = string.Join(Environment.NewLine, File.ReadLines(LogPath).TakeLast(10));
            throw new InvalidOperationException($"{e.Message}{Environment.NewLine}server log ({LogPath}):{Environment.NewLine}{log}", e);
        }
    }

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            var text = $"{await output.ConfigureAwait(false)}{await error.ConfigureAwait(false)}".Trim();
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with {process.ExitCode}: {text}");
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
