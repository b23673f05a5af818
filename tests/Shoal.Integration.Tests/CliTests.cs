using System.Net.Http.Json;
using System.Text.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

public sealed class CliTests
{
    [Fact]
    public async Task The_built_cli_runs_with_a_small_gen0_budget()
    {
        // Without it the runtime lets gen0 grow to 128 MiB, and a node's memory rose through a whole transfer (Shoal.Cli.csproj).
        Assert.Equal(0, (await ShoalCli.RunAsync("--version")).ExitCode);
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(ShoalCli.RepositoryRoot, ".shoal-build", "shoal.runtimeconfig.json")));

        var budget = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").GetProperty("System.GC.Gen0MaxBudget").GetInt64();

        Assert.InRange(budget, 1, 16L << 20);
    }

    [Fact]
    public async Task Init_invite_join_up_share_get_through_the_real_cli()
    {
        using var dir = new TempDirectory("shoal-cli");
        var homeA = dir.Combine("a");
        var homeB = dir.Combine("b");

        var initA = await ShoalCli.RunAsync("init", "--home", homeA, "--name", "laptop");
        Assert.Equal(0, initA.ExitCode);
        Assert.Contains("Device ID:", initA.Stdout, StringComparison.Ordinal);
        var again = await ShoalCli.RunAsync("init", "--home", homeA, "--name", "other");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already initialised", again.Stdout, StringComparison.Ordinal);

        await using var a = await NodeProcess.StartAsync(homeA);
        var invite = await ShoalCli.RunAsync("invite", "--home", homeA);
        Assert.Equal(0, invite.ExitCode);
        Assert.Single(invite.Stdout.Trim().Split('\n'));
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", homeB, "--name", "desk", "--join", invite.Stdout.Trim())).ExitCode);
        await using var b = await NodeProcess.StartAsync(homeB);

        var source = TestFiles.Create(dir.Combine("src", "big file.iso"), 6 * 1024 * 1024 + 7, seed: 21);
        var share = await ShoalCli.RunAsync("share", "--home", homeA, source);
        Assert.Equal(0, share.ExitCode);
        var link = share.Stdout.Trim();
        Assert.StartsWith("shoal:", link, StringComparison.Ordinal);
        Assert.EndsWith("?name=big%20file.iso", link, StringComparison.Ordinal);

        var output = dir.Combine("out");
        var get = await ShoalCli.RunAsync("get", "--home", homeB, link, "-o", output);
        Assert.True(get.ExitCode == 0, get.Stderr);
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(output, "big file.iso")));

        var ls = await ShoalCli.RunAsync("ls", "--home", homeB, "--json");
        using (var files = JsonDocument.Parse(ls.Stdout))
        {
            var file = Assert.Single(files.RootElement.EnumerateArray());
            Assert.Equal(link, file.GetProperty("link").GetString());
            Assert.Equal(6 * 1024 * 1024 + 7, file.GetProperty("size").GetInt64());
            Assert.Equal("complete", file.GetProperty("local").GetString());
            Assert.Equal(2, file.GetProperty("replicas").GetInt32());
        }

        var peers = await ShoalCli.RunAsync("peers", "--home", homeA, "--json");
        using (var list = JsonDocument.Parse(peers.Stdout))
        {
            var peer = Assert.Single(list.RootElement.EnumerateArray());
            Assert.Equal("desk", peer.GetProperty("name").GetString());
            Assert.True(peer.GetProperty("online").GetBoolean());
            Assert.NotEmpty(peer.GetProperty("addresses").EnumerateArray());
        }

        var status = await ShoalCli.RunAsync("status", "--home", homeB, "--json");
        using (var json = JsonDocument.Parse(status.Stdout))
        {
            Assert.Equal("desk", json.RootElement.GetProperty("name").GetString());
            Assert.Equal(1, json.RootElement.GetProperty("peersOnline").GetInt32());
            Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("network").GetString()));
        }

        Assert.Equal(0, await b.StopAsync());
        var stopped = await ShoalCli.RunAsync("status", "--home", homeB);
        Assert.Equal(3, stopped.ExitCode);
        Assert.Contains("shoal up", stopped.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_exit_2_and_a_stopped_node_exits_3()
    {
        using var dir = new TempDirectory("shoal-cli");
        Assert.Equal(2, (await ShoalCli.RunAsync("frobnicate")).ExitCode);
        Assert.Equal(2, (await ShoalCli.RunAsync("get", "--home", dir.Path, "not-a-link")).ExitCode);
        Assert.Equal(2, (await ShoalCli.RunAsync("ls", "--home", dir.Path, "--bogus")).ExitCode);
        var notRunning = await ShoalCli.RunAsync("ls", "--home", dir.Path);
        Assert.Equal(3, notRunning.ExitCode);
        Assert.Single(notRunning.Stderr.Trim().Split('\n'));
        var version = await ShoalCli.RunAsync("--version");
        Assert.Equal(0, version.ExitCode);
        Assert.StartsWith("shoal ", version.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_web_ui_off_loopback_needs_a_password_which_is_read_from_stdin_and_stored_hashed()
    {
        using var dir = new TempDirectory("shoal-cli");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", dir.Path, "--name", "box")).ExitCode);

        var refused = await ShoalCli.RunAsync("up", "--home", dir.Path, "--listen", "127.0.0.1:0", "--api", "0.0.0.0:0", "--no-discovery");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("shoal password", refused.Stderr, StringComparison.Ordinal);

        Assert.Equal(2, (await ShoalCli.RunAsync("password", "--home", dir.Path, "on-the-command-line")).ExitCode);
        Assert.Equal(1, (await ShoalCli.RunWithInputAsync("short\n", "password", "--home", dir.Path)).ExitCode);
        Assert.Equal(0, (await ShoalCli.RunWithInputAsync("a long passphrase\n", "password", "--home", dir.Path)).ExitCode);
        var stored = NodeConfig.Load(new NodeHome(dir.Path)).ApiPasswordHash;
        Assert.NotNull(stored);
        Assert.DoesNotContain("a long passphrase", File.ReadAllText(new NodeHome(dir.Path).ConfigPath), StringComparison.Ordinal);
        Assert.True(PasswordHash.Verify("a long passphrase", stored));
        Assert.False(PasswordHash.Verify("a long passphrasf", stored));

        Assert.Equal(0, (await ShoalCli.RunAsync("password", "--home", dir.Path, "--clear")).ExitCode);
        Assert.Null(NodeConfig.Load(new NodeHome(dir.Path)).ApiPasswordHash);
    }

    [Fact]
    public async Task A_download_killed_halfway_resumes_after_restart_without_refetching()
    {
        using var dir = new TempDirectory("shoal-resume");
        await using var a = await TestNode.StartFoundingAsync("seed");
        const long size = 96L * 1024 * 1024;
        var source = TestFiles.Create(dir.Combine("src", "movie.bin"), size, seed: 31);
        var shared = await a.ShareAsync(source);
        var homeB = dir.Combine("b");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", homeB, "--name", "b", "--join", Shoal.Node.Home.NodeSetup.CreateInvite(a.Node.Home, [a.Address]))).ExitCode);
        var output = dir.Combine("out");

        await using (var b = await NodeProcess.StartAsync(homeB, "--limit-down", "24M"))
        {
            var start = await b.Api.PostAsJsonAsync("api/downloads", new GetRequest(shared.Link, output), ApiJson.Default.GetRequest);
            start.EnsureSuccessStatusCode();
            await Eventually.ValueAsync(
                async () => (await b.Api.GetFromJsonAsync($"api/downloads/{shared.Id}", ApiJson.Default.TransferDto))!.VerifiedBytes >= size / 2 ? "half" : null,
                "half of the file to arrive");
            await b.KillAsync();
        }

        Assert.False(File.Exists(Path.Combine(output, "movie.bin")), "a partial file must never sit under the final name");
        var sentBeforeKill = a.Node.UploadedBytes;
        Assert.True(sentBeforeKill < size);

        await using (var b = await NodeProcess.StartAsync(homeB))
        {
            await Eventually.ValueAsync(
                async () => (await b.Api.GetFromJsonAsync($"api/downloads/{shared.Id}", ApiJson.Default.TransferDto))?.State == "completed" ? "done" : null,
                "the resumed download to complete",
                TimeSpan.FromMinutes(2));
        }

        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(output, "movie.bin")));
        var window = new Shoal.Swarm.SwarmOptions().MaxWindowBytes;
        Assert.True(a.Node.UploadedBytes <= size + window, $"sent {a.Node.UploadedBytes} bytes for a {size}-byte file (window {window})");
    }
}
