using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

/// <summary>
/// One running node (and a stopped and a missing home beside it) for the tests of the CLI's surface: exit codes,
/// --json, config, completion, progress output.
/// </summary>
public sealed class CliSurfaceFixture : IAsyncLifetime
{
    public TempDirectory Directory { get; } = new("shoal-surface");

    public string Running => Directory.Combine("running");

    public string Stopped => Directory.Combine("stopped");

    public string Missing => Directory.Combine("missing");

    public NodeProcess Node { get; private set; } = null!;

    public string SmallFile { get; private set; } = "";

    public string Link { get; private set; } = "";

    public string DeviceId { get; private set; } = "";

    public string ApiPort { get; private set; } = "";

    /// <summary>A well-formed link that no node has.</summary>
    public string AbsentLink { get; } = new ShoalLink(FileId.FromBytes(SHA256.HashData("absent"u8)), "absent.bin").ToString();

    /// <summary>Another one, never asked for: no download of it exists.</summary>
    public string NeverLink { get; } = new ShoalLink(FileId.FromBytes(SHA256.HashData("never"u8)), "never.bin").ToString();

    public async Task InitializeAsync()
    {
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", Running, "--name", "running")).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", Stopped, "--name", "stopped")).ExitCode);
        Node = await NodeProcess.StartAsync(Running);
        SmallFile = TestFiles.Create(Directory.Combine("files", "small.bin"), 100_000, seed: 1);
        var share = await ShoalCli.RunAsync("share", "--home", Running, SmallFile);
        Assert.True(share.ExitCode == 0, share.Stderr);
        Link = share.Stdout.Trim();
        using var status = JsonDocument.Parse((await ShoalCli.RunAsync("status", "--home", Running, "--json")).Stdout);
        DeviceId = status.RootElement.GetProperty("id").GetString()!;
        ApiPort = new Uri(status.RootElement.GetProperty("api").GetString()!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        Directory.Dispose();
    }

    /// <summary>Fills in {run}, {stopped}, {missing}, {fresh}, {file}, {newfile}, {out}, {link}, {absent}, {never}, {self}, {apiport}, {db}.</summary>
    public string[] Expand(string commandLine) =>
    [
        .. commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(word => word switch
        {
            "{run}" => Running,
            "{stopped}" => Stopped,
            "{missing}" => Missing,
            "{fresh}" => Directory.Combine("fresh-" + Guid.NewGuid().ToString("N")),
            "{file}" => SmallFile,
            "{newfile}" => TestFiles.Create(Directory.Combine("files", Guid.NewGuid().ToString("N") + ".bin"), 200_000, seed: Random.Shared.Next()),
            "{out}" => Directory.Combine("out-" + Guid.NewGuid().ToString("N")),
            "{link}" => Link,
            "{absent}" => AbsentLink,
            "{never}" => NeverLink,
            "{self}" => DeviceId,
            "{apiport}" => ApiPort,
            "{db}" => Directory.Combine("tracker-" + Guid.NewGuid().ToString("N") + ".db"),
            _ => word,
        }),
    ];
}

public sealed class CliSurfaceTests(CliSurfaceFixture fixture) : IClassFixture<CliSurfaceFixture>
{
    private static readonly string[] Commands =
        ["init", "invite", "up", "status", "peers", "share", "put", "get", "transfers", "pause", "resume", "ls", "folder", "rm", "revoke", "config", "password", "top", "tracker", "relay", "completion", "help"];

    /// <summary>Every command's exit codes: 0 success, 1 failure, 2 usage, 3 node not running, 4 put short of copies.</summary>
    public static TheoryData<string, int> ExitCodes => new()
    {
        { "--version", 0 },
        { "", 2 },
        { "frobnicate", 2 },
        { "help", 0 },
        { "help get", 0 },
        { "help frobnicate", 2 },
        { "status --help", 0 },

        { "init --home {fresh} --name fresh", 0 },
        { "init --home {run}", 0 },
        { "init --home {fresh} --join not-an-invite", 1 },
        { "init --home {fresh} surplus", 2 },

        { "invite --home {run}", 0 },
        { "invite --home {stopped}", 0 },
        { "invite --home {missing}", 1 },

        { "up --home {run} --listen 127.0.0.1:0 --api 127.0.0.1:0 --no-discovery", 1 },
        { "up --home {fresh} --listen 127.0.0.1:0 --api 127.0.0.1:{apiport} --no-discovery", 1 },
        { "up --home {stopped} --bogus", 2 },
        { "up --home {stopped} --log-level loud", 2 },
        { "up --home {stopped} --log-format xml", 2 },

        { "status --home {run}", 0 },
        { "status --home {run} --json", 0 },
        { "status --home {stopped}", 3 },
        { "status --home {missing}", 3 },

        { "peers --home {run}", 0 },
        { "peers --home {stopped}", 3 },
        { "ls --home {run}", 0 },
        { "ls --home {run} nothing-has-this-name", 0 },
        { "ls --home {run} --bogus", 2 },
        { "ls --home {stopped}", 3 },
        { "transfers --home {run}", 0 },
        { "transfers --home {stopped}", 3 },
        { "folder --home {run}", 0 },
        { "folder --home {stopped}", 3 },

        { "share --home {run} {file}", 0 },
        { "share --home {run} /no/such/file", 1 },
        { "share --home {run}", 2 },
        { "share --home {stopped} {file}", 3 },

        { "put --home {run} {newfile} --replicas 1", 0 },
        { "put --home {run} {newfile} --replicas 2", 4 },
        { "put --home {run} {file} --replicas 0", 2 },
        { "put --home {run} /no/such/file", 1 },
        { "put --home {stopped} {file}", 3 },

        { "get --home {run} {link} -o {out}", 0 },
        { "get --home {run} {absent} -o {out} --wait 1", 1 },
        { "get --home {run} shoal:not-a-link", 2 },
        { "get --home {run} https://example.com/file", 2 },
        { "get --home {stopped} {link}", 3 },

        { "pause --home {run} {never}", 1 },
        { "resume --home {run} {never}", 1 },
        { "pause --home {run} shoal:x", 2 },
        { "pause --home {stopped} {link}", 3 },
        { "resume --home {stopped} {link}", 3 },

        { "rm --home {run} {never}", 1 },
        { "rm --home {run} shoal:x", 2 },
        { "rm --home {stopped} {link}", 3 },

        { "revoke --home {run} {self}", 1 },
        { "revoke --home {run} not-a-device", 2 },
        { "revoke --home {stopped} {self}", 3 },

        { "config --home {run}", 0 },
        { "config --home {run} name", 0 },
        { "config --home {stopped} trashDays 14", 0 },
        { "config --home {run} nosuchkey", 2 },
        { "config --home {run} listen 1.2.3:x", 2 },
        { "config --home {stopped} discoveryPort 70000", 2 },
        { "config --home {run} name a b", 2 },
        { "config --home {missing}", 1 },

        { "password --home {stopped} --clear", 0 },
        { "password --home {stopped} on-the-command-line", 2 },
        { "password --home {missing} --clear", 1 },

        { "tracker --listen 127.0.0.1:{apiport} --db {db}", 1 },
        { "tracker --interval 0", 2 },
        { "tracker --bogus", 2 },
        { "relay --bogus", 2 },
        { "relay --sessions 0", 2 },
        { "relay --listen nowhere:1", 2 },

        { "completion bash", 0 },
        { "completion zsh", 0 },
        { "completion fish", 2 },
        { "completion", 2 },
    };

    [Theory]
    [MemberData(nameof(ExitCodes))]
    public async Task Every_command_exits_with_its_documented_code_and_fails_in_one_line(string commandLine, int expected)
    {
        var result = await ShoalCli.RunAsync(fixture.Expand(commandLine));

        Assert.True(result.ExitCode == expected, $"shoal {commandLine}: exit {result.ExitCode}, expected {expected}\nstdout: {result.Stdout}\nstderr: {result.Stderr}");
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
        if (expected == 0 || commandLine.Length == 0) return; // no command at all: the overview on stdout
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.StartsWith("shoal", lines[^1], StringComparison.Ordinal);
        // Usage errors and a stopped node: exactly one line. Others may follow a progress line (get, put).
        if (expected is 2 or 3) Assert.Single(lines);
        if (expected == 3) Assert.Contains("start it with: shoal up", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_command_has_help_with_an_example()
    {
        foreach (var command in Commands)
        {
            var help = await ShoalCli.RunAsync("help", command);
            Assert.True(help.ExitCode == 0, $"shoal help {command}: {help.Stderr}");
            Assert.StartsWith($"shoal {command}", help.Stdout, StringComparison.Ordinal);
            Assert.Contains("example", help.Stdout, StringComparison.Ordinal);
        }

        var overview = await ShoalCli.RunAsync("help");
        foreach (var command in Commands.Where(c => c is not ("top" or "resume" or "help"))) Assert.Contains($"  {command} ", overview.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_link_says_what_a_link_looks_like_and_a_missing_source_says_what_to_do()
    {
        var malformed = await ShoalCli.RunAsync("get", "--home", fixture.Running, "shoal:abc");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("a link looks like shoal:<id>?name=<name>", Assert.Single(malformed.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);

        var absent = await ShoalCli.RunAsync("get", "--home", fixture.Running, fixture.AbsentLink, "-o", fixture.Directory.Combine("absent-out"), "--wait", "1");
        Assert.Equal(1, absent.ExitCode);
        var error = absent.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.StartsWith("shoal get: no online node has absent.bin", error, StringComparison.Ordinal);
        Assert.Contains("start a node that has it", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_listing_prints_one_json_document_with_json()
    {
        string[][] listings =
        [
            ["status"], ["peers"], ["ls"], ["transfers"], ["folder"], ["config"], ["config", "name"],
            ["share", fixture.SmallFile], ["put", fixture.Expand("{newfile}")[0], "--replicas", "1"],
        ];
        foreach (var listing in listings)
        {
            var result = await ShoalCli.RunAsync([.. listing, "--home", fixture.Running, "--json"]);
            Assert.True(result.ExitCode == 0, $"shoal {string.Join(' ', listing)} --json: {result.Stderr}");
            using var json = JsonDocument.Parse(result.Stdout);
            var expected = listing[0] is "status" or "folder" or "config" ? JsonValueKind.Object : JsonValueKind.Array;
            Assert.Equal(expected, json.RootElement.ValueKind);
        }

        using var stopped = JsonDocument.Parse((await ShoalCli.RunAsync("config", "--home", fixture.Stopped, "--json")).Stdout);
        Assert.Equal(JsonValueKind.Number, stopped.RootElement.GetProperty("storeQuota").ValueKind);
        Assert.Equal(JsonValueKind.Array, stopped.RootElement.GetProperty("peers").ValueKind);
        Assert.Equal(JsonValueKind.True, stopped.RootElement.GetProperty("discovery").ValueKind);
        Assert.False(stopped.RootElement.TryGetProperty("apiPasswordHash", out _));

        using var shared = JsonDocument.Parse((await ShoalCli.RunAsync("share", "--home", fixture.Running, fixture.SmallFile, "--json")).Stdout);
        var file = Assert.Single(shared.RootElement.EnumerateArray());
        Assert.Equal(fixture.Link, file.GetProperty("link").GetString());
        Assert.Equal(100_000, file.GetProperty("size").GetInt64());

        using var transfers = JsonDocument.Parse((await ShoalCli.RunAsync("transfers", "--home", fixture.Running, "--json")).Stdout);
        foreach (var transfer in transfers.RootElement.EnumerateArray())
        {
            foreach (var field in new[] { "name", "state", "verifiedBytes", "size", "bytesPerSecond", "etaSeconds", "sources" }) Assert.True(transfer.TryGetProperty(field, out _), field);
        }
    }

    [Fact]
    public async Task Config_with_the_node_stopped_validates_and_writes_the_file()
    {
        using var dir = new TempDirectory("shoal-config-cli");
        var home = dir.Combine("home");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", home, "--name", "first")).ExitCode);

        var set = await ShoalCli.RunAsync("config", "--home", home, "name", "desk");
        Assert.Equal(0, set.ExitCode);
        Assert.StartsWith("name = desk (saved; takes effect at the next start: shoal up", set.Stdout, StringComparison.Ordinal);
        Assert.Equal("desk", (await ShoalCli.RunAsync("config", "--home", home, "name")).Stdout.Trim());
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "uploadLimit", "20M")).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "peers", "10.0.0.5:7420, nas.lan:7420")).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "allowSubnets", "192.168.1.0/24")).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "discovery", "off")).ExitCode);
        var config = NodeConfig.Load(new NodeHome(home));
        Assert.Equal(("desk", 20L << 20, false), (config.Name, config.UploadLimit, config.Discovery));
        Assert.Equal(["10.0.0.5:7420", "nas.lan:7420"], config.Peers);
        Assert.Equal(["192.168.1.0/24"], config.AllowSubnets);
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "peers", "")).ExitCode);
        Assert.Empty(NodeConfig.Load(new NodeHome(home)).Peers);

        var all = await ShoalCli.RunAsync("config", "--home", home);
        Assert.Contains("name = desk\n", all.Stdout, StringComparison.Ordinal);
        Assert.Contains("uploadLimit = 20M\n", all.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("apiPasswordHash", all.Stdout, StringComparison.OrdinalIgnoreCase);

        (string Key, string Value, string Error)[] refused =
        [
            ("listen", "1.2.3:x", "listen: '1.2.3:x' is not HOST:PORT"),
            ("api", "0.0.0.0:7421", "set a password first"),
            ("trackers", "ftp://tracker.example", "is not a tracker URL"),
            ("allowSubnets", "10.0.0.0/33", "is not a subnet in CIDR form"),
            ("trashDays", "-1", "trashDays: '-1' is not a whole number"),
            ("uploadLimit", "fast", "uploadLimit: 'fast' is not a size"),
            ("discovery", "maybe", "is not true or false"),
            ("folder", "/etc/hostname", "is a file"),
            ("apiPasswordHash", "x", "'apiPasswordHash' is not a setting"),
            ("nosuchkey", "1", "'nosuchkey' is not a setting; the settings are name,"),
        ];
        var before = File.ReadAllText(new NodeHome(home).ConfigPath);
        foreach (var (key, value, error) in refused)
        {
            var result = await ShoalCli.RunAsync("config", "--home", home, key, value);
            Assert.True(result.ExitCode == 2, $"config {key} {value}: exit {result.ExitCode}: {result.Stderr}");
            Assert.Contains(error, Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllText(new NodeHome(home).ConfigPath));
    }

    [Fact]
    public async Task Config_on_a_running_node_applies_what_it_can_and_says_what_needs_a_restart()
    {
        using var dir = new TempDirectory("shoal-config-cli");
        var home = dir.Combine("home");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", home, "--name", "before")).ExitCode);
        await using var node = await NodeProcess.StartAsync(home);

        var name = await ShoalCli.RunAsync("config", "--home", home, "name", "renamed");
        Assert.Equal("name = renamed (applied)", name.Stdout.Trim());
        Assert.Equal("renamed", (await node.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Name);

        var limit = await ShoalCli.RunAsync("config", "--home", home, "uploadLimit", "1M");
        Assert.Equal("uploadLimit = 1M (applied)", limit.Stdout.Trim());
        Assert.Equal(1L << 20, (await node.Api.GetFromJsonAsync("api/limits", ApiJson.Default.LimitsDto))!.Upload);
        Assert.Equal("uploadLimit = 1M (unchanged)", (await ShoalCli.RunAsync("config", "--home", home, "uploadLimit", "1024K")).Stdout.Trim());

        var listenBefore = (await node.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Listen;
        var listen = await ShoalCli.RunAsync("config", "--home", home, "listen", "127.0.0.1:7999");
        Assert.StartsWith("listen = 127.0.0.1:7999 (takes effect at the next start: shoal up", listen.Stdout, StringComparison.Ordinal);
        Assert.Equal(listenBefore, (await node.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Listen);
        Assert.Equal("127.0.0.1:7999", (await ShoalCli.RunAsync("config", "--home", home, "listen")).Stdout.Trim());
        Assert.Contains("(takes effect at the next start", (await ShoalCli.RunAsync("config", "--home", home, "trashDays", "7")).Stdout, StringComparison.Ordinal);

        var bad = await ShoalCli.RunAsync("config", "--home", home, "downloadLimit", "-5");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("downloadLimit: '-5' is not a size", bad.Stderr, StringComparison.Ordinal);

        // A password set while the node runs (for its next start) survives a config change through the node.
        Assert.Equal(0, (await ShoalCli.RunWithInputAsync("a long passphrase\n", "password", "--home", home)).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunAsync("config", "--home", home, "name", "again")).ExitCode);
        var saved = NodeConfig.Load(new NodeHome(home));
        Assert.Equal(("again", 1L << 20, "127.0.0.1:7999", 7), (saved.Name, saved.UploadLimit, saved.Listen, saved.TrashDays));
        Assert.NotNull(saved.ApiPasswordHash);

        using var json = JsonDocument.Parse((await ShoalCli.RunAsync("config", "--home", home, "--json")).Stdout);
        Assert.Equal("again", json.RootElement.GetProperty("name").GetString());
        Assert.Equal(1L << 20, json.RootElement.GetProperty("uploadLimit").GetInt64());
    }

    [Fact]
    public async Task Bash_completion_knows_every_command_and_their_flags_and_bash_accepts_it()
    {
        var result = await ShoalCli.RunAsync("completion", "bash");
        Assert.Equal(0, result.ExitCode);
        var script = result.Stdout;
        foreach (var command in Commands) Assert.Contains($"        {command})\n", script, StringComparison.Ordinal);
        Assert.Contains("--replicas", script, StringComparison.Ordinal);
        Assert.Contains("uploadLimit", script, StringComparison.Ordinal);

        using var dir = new TempDirectory("shoal-completion");
        var path = dir.Combine("shoal.bash");
        await File.WriteAllTextAsync(path, script);
        Assert.Equal((0, ""), await RunAsync("bash", "-n", path));

        // Drive the completion function as bash would on Tab.
        var driver = dir.Combine("drive.sh");
        await File.WriteAllTextAsync(driver, $$"""
            source '{{path}}'
            t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _shoal; echo "${COMPREPLY[*]}"; }
            t shoal con
            t shoal put --r
            t shoal config disc
            t shoal up --log-format s
            t shoal get -o '{{dir.Path}}'

            """);
        var (exit, output) = await RunAsync("bash", driver);
        Assert.Equal(0, exit);
        Assert.Equal(["config", "--replicas", "discovery discoveryPort", "systemd", dir.Path], output.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task Zsh_completion_knows_every_command_and_their_flags_and_zsh_accepts_it()
    {
        var result = await ShoalCli.RunAsync("completion", "zsh");
        Assert.Equal(0, result.ExitCode);
        var script = result.Stdout;
        Assert.StartsWith("#compdef shoal", script, StringComparison.Ordinal);
        foreach (var command in Commands)
        {
            Assert.Contains($"    {command})\n", script, StringComparison.Ordinal);
            Assert.Contains($"'{command}:", script, StringComparison.Ordinal);
        }

        Assert.Contains("'--replicas[", script, StringComparison.Ordinal);
        Assert.Contains("'--home[", script, StringComparison.Ordinal);
        Assert.Contains("downAfterSeconds", script, StringComparison.Ordinal);
        if (!File.Exists("/usr/bin/zsh") && !File.Exists("/bin/zsh")) return; // zsh -n only where zsh is installed
        using var dir = new TempDirectory("shoal-completion");
        var path = dir.Combine("_shoal");
        await File.WriteAllTextAsync(path, script);
        Assert.Equal((0, ""), await RunAsync("zsh", "-n", path));
    }

    [Fact]
    public async Task Share_progress_is_plain_lines_when_redirected_and_redrawn_on_a_terminal()
    {
        // Sparse files: big enough that hashing takes a while, yet they cost no disk.
        var redirectedFile = Sparse(fixture.Directory.Combine("progress", "redirected.bin"), 1L << 30);
        var redirected = await ShoalCli.RunAsync("share", "--home", fixture.Running, redirectedFile);
        Assert.True(redirected.ExitCode == 0, redirected.Stderr);
        Assert.DoesNotContain('\r', redirected.Stderr);
        Assert.DoesNotContain('\u001b', redirected.Stderr);
        var lines = redirected.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("redirected.bin ", StringComparison.Ordinal) && l.EndsWith("hashing", StringComparison.Ordinal) && l.Contains("/1.0 GiB", StringComparison.Ordinal));
        Assert.Matches(@"^hashed 1 file, 1\.0 GiB in \d+\.\ds$", lines[^1]);
        Assert.StartsWith("shoal:", redirected.Stdout, StringComparison.Ordinal);

        if (!File.Exists("/usr/bin/script")) return; // util-linux script gives the command a terminal
        var terminalFile = Sparse(fixture.Directory.Combine("progress", "terminal.bin"), (1L << 30) + 4096);
        var command = $"'{Path.Combine(ShoalCli.RepositoryRoot, "shoal")}' share --home '{fixture.Running}' '{terminalFile}'";
        var (exit, output) = await RunAsync("script", "-q", "-e", "-f", "-c", command, "/dev/null");
        Assert.True(exit == 0, output);
        Assert.Contains("\r\u001b[2Kterminal.bin ", output, StringComparison.Ordinal);
        Assert.Contains("hashing", output, StringComparison.Ordinal);
        Assert.Contains("shoal:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_are_json_lines_with_log_format_json_and_carry_journal_priorities_under_systemd()
    {
        using var dir = new TempDirectory("shoal-logs");
        var home = dir.Combine("home");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", home, "--name", "logs")).ExitCode);

        var json = await FirstLinesAsync(home, ["--log-format", "json"], environment: null, until: line => line.Contains("is up.", StringComparison.Ordinal));
        Assert.All(json, line =>
        {
            using var entry = JsonDocument.Parse(line);
            Assert.True(entry.RootElement.TryGetProperty("LogLevel", out _), line);
            Assert.True(entry.RootElement.TryGetProperty("Timestamp", out _), line);
        });
        Assert.Contains(json, line => line.Contains("\"Category\":\"shoal\"", StringComparison.Ordinal) && line.Contains("\"Listen\":", StringComparison.Ordinal));

        // The logger writes from its own thread, so its lines and the plain "is up." may come in either order.
        var journal = await FirstLinesAsync(home, [], environment: ("JOURNAL_STREAM", "8:12345"), until: line => line.StartsWith("<6>shoal[0] Node logs", StringComparison.Ordinal));
        Assert.DoesNotContain(journal, line => line.Contains("info:", StringComparison.Ordinal));
    }

    /// <summary>Runs shoal up until a line on stdout matches <paramref name="until"/>, then stops it; returns stdout's lines.</summary>
    private static async Task<List<string>> FirstLinesAsync(string home, string[] flags, (string Name, string Value)? environment, Func<string, bool> until)
    {
        var info = ShoalCli.StartInfo(["up", "--home", home, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-discovery", .. flags]);
        info.Environment.Remove("JOURNAL_STREAM");
        if (environment is { } variable) info.Environment[variable.Name] = variable.Value;
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (until(line)) break;
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        Assert.Contains(lines, line => until(line));
        return lines;
    }

    private static string Sparse(string path, long size)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        stream.SetLength(size);
        return path;
    }

    /// <summary>Runs a program with stdin at its end; returns its exit code and stdout followed by stderr.</summary>
    private static async Task<(int Exit, string Output)> RunAsync(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove(NodeHome.EnvironmentVariable);
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
