using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Net;
using Shoal.Node;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

/// <summary>The API the web UI stands on, against a real Kestrel on loopback: access, uploads, streaming, live events.</summary>
public sealed class WebApiTests
{
    [Fact]
    public async Task The_openapi_document_describes_the_api_without_a_token()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        using var anonymous = new HttpClient { BaseAddress = a.Node.ApiUrl };

        using var document = JsonDocument.Parse(await anonymous.GetStringAsync("openapi/v1.json"));

        var paths = document.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/api/status", "/api/files/{id}/content", "/api/upload", "/api/downloads/{id}/pause", "/api/downloads/{id}/resume", "/api/settings", "/api/events" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is not in the OpenAPI document");
        }

        Assert.True(document.RootElement.GetProperty("components").GetProperty("schemas").TryGetProperty("TransferDto", out _));
    }

    [Fact]
    public async Task Without_the_token_or_from_a_foreign_host_name_the_api_refuses_and_the_page_withholds_the_token()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        using var anonymous = new HttpClient { BaseAddress = a.Node.ApiUrl };

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/status")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("api/folder/scan", null)).StatusCode);
        var page = await anonymous.GetStringAsync("/");
        Assert.Contains($"<meta name=\"shoal-token\" content=\"{a.Node.ApiToken}\">", page, StringComparison.Ordinal);

        // A DNS name pointed at 127.0.0.1 by a web page (rebinding) gets nothing, not even the page.
        using var rebound = new HttpRequestMessage(HttpMethod.Get, "/");
        rebound.Headers.Host = "attacker.example";
        var refused = await anonymous.SendAsync(rebound);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, refused.StatusCode);
        Assert.DoesNotContain(a.Node.ApiToken, await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // No CORS: a cross-origin request gets no Access-Control-Allow-Origin, so a browser keeps the answer from the page.
        using var crossOrigin = new HttpRequestMessage(HttpMethod.Get, "api/status");
        crossOrigin.Headers.Add("Origin", "http://attacker.example");
        crossOrigin.Headers.Authorization = new AuthenticationHeaderValue("Bearer", a.Node.ApiToken);
        Assert.False((await anonymous.SendAsync(crossOrigin)).Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task With_a_password_the_page_asks_for_it_and_sign_in_is_rate_limited()
    {
        await using var a = await TestNode.StartAsync("a", joinCode: null, peers: [], configure: WithPassword("correct horse battery"));
        using var browser = new HttpClient { BaseAddress = a.Node.ApiUrl };

        Assert.Contains("<meta name=\"shoal-token\" content=\"\">", await browser.GetStringAsync("/files"), StringComparison.Ordinal);
        var signedIn = await browser.PostAsJsonAsync("api/login", new LoginRequest("correct horse battery"), ApiJson.Default.LoginRequest);
        var session = (await signedIn.Content.ReadFromJsonAsync(ApiJson.Default.LoginDto))!.Token;
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", session);
        Assert.Equal("a", (await browser.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Name);

        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++) codes.Add((await browser.PostAsJsonAsync("api/login", new LoginRequest("guess " + i), ApiJson.Default.LoginRequest)).StatusCode);
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), HttpStatusCode.TooManyRequests], codes);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await browser.PostAsJsonAsync("api/login", new LoginRequest("correct horse battery"), ApiJson.Default.LoginRequest)).StatusCode);
    }

    [Fact]
    public async Task A_non_loopback_api_without_a_password_does_not_start()
    {
        using var directory = new TempDirectory("shoal-node");
        var home = new NodeHome(directory.Combine("home"));
        NodeSetup.Init(home, "open", folder: null, joinCode: null);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ShoalNode.StartAsync(
            new NodeOptions(home) { Listen = "127.0.0.1:0", Api = "0.0.0.0:0", Discovery = false }));

        Assert.Contains("password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_api_token_in_the_home_is_readable_by_its_owner_only()
    {
        await using var a = await TestNode.StartFoundingAsync("a");

        // Other local users can reach 127.0.0.1 too: the token is what keeps them out.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(a.Node.Home.RuntimePath));
    }

    [Fact]
    public async Task An_upload_streams_to_disk_under_a_safe_name_and_is_shared()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var source = TestFiles.Create(a.Directory.Combine("src", "big.bin"), 40L * 1024 * 1024 + 7, seed: 71);

        await using var body = File.OpenRead(source);
        using var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var response = await a.Api.PostAsync("api/upload?name=" + Uri.EscapeDataString("../../etc/passwd") + "&mode=share", content);
        response.EnsureSuccessStatusCode();
        var upload = (await response.Content.ReadFromJsonAsync(ApiJson.Default.UploadDto))!;

        var uploads = Path.Combine(a.Node.Home.Root, "uploads");
        Assert.Equal(uploads, Path.GetDirectoryName(upload.Path));
        Assert.DoesNotContain("/", upload.Name, StringComparison.Ordinal);
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(upload.Path));
        Assert.Equal([upload.Path], Directory.GetFiles(uploads));
        Assert.Equal("complete", (await a.FilesAsync()).Single(f => f.Id == upload.Id).Local);

        // The same name again is kept beside it, never over it.
        using var again = new ByteArrayContent([1, 2, 3]);
        var second = (await (await a.Api.PostAsync("api/upload?name=" + Uri.EscapeDataString("../../etc/passwd"), again)).Content.ReadFromJsonAsync(ApiJson.Default.UploadDto))!;
        Assert.NotEqual(upload.Path, second.Path);
        Assert.Equal(2, Directory.GetFiles(uploads).Length);
    }

    [Fact]
    public async Task An_upload_larger_than_the_free_space_or_without_a_length_is_refused_before_a_byte_is_written()
    {
        await using var a = await TestNode.StartFoundingAsync("a");

        var tooBig = await RawRequestAsync(a, "POST /api/upload?name=huge.bin HTTP/1.1", $"Content-Length: {1L << 50}");
        var noLength = await RawRequestAsync(a, "POST /api/upload?name=x.bin HTTP/1.1", "Transfer-Encoding: chunked", body: "0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 507", tooBig, StringComparison.Ordinal);
        Assert.Contains("not enough space", tooBig, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 411", noLength, StringComparison.Ordinal);
        var uploads = Path.Combine(a.Node.Home.Root, "uploads");
        Assert.Empty(Directory.Exists(uploads) ? Directory.GetFileSystemEntries(uploads) : []);
    }

    [Fact]
    public async Task A_browser_download_streams_in_order_while_the_node_is_still_fetching_and_needs_a_valid_ticket()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 4 * 1024 * 1024);
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var source = TestFiles.Create(a.Directory.Combine("src", "movie.bin"), 24L * 1024 * 1024 + 5, seed: 72);
        var shared = await a.ShareAsync(source);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        using var browser = new HttpClient { BaseAddress = b.Node.ApiUrl };
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync($"api/files/{shared.Id}/content?ticket=1.forged")).StatusCode);

        var ticket = (await (await b.Api.PostAsync($"api/files/{shared.Id}/ticket", null)).Content.ReadFromJsonAsync(ApiJson.Default.TicketDto))!;
        using var response = await browser.GetAsync(ticket.Url, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        Assert.Equal(new FileInfo(source).Length, response.Content.Headers.ContentLength);
        Assert.Equal("movie.bin", response.Content.Headers.ContentDisposition!.FileNameStar);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var first = new byte[64 * 1024];
        await stream.ReadExactlyAsync(first);

        // The first bytes are here while the node is still downloading: it streams, it does not fetch then send.
        Assert.Equal("downloading", (await b.TransferAsync(shared.Id)).State);
        using var received = new MemoryStream();
        received.Write(first);
        await stream.CopyToAsync(received);
        received.Position = 0;
        Assert.Equal(TestFiles.Sha256(source), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(received)));

        // The node kept its own copy and serves it now.
        var done = await Eventually.ValueAsync(async () => await b.TransferAsync(shared.Id) is { State: "completed" } t ? t : null, "B's copy to complete");
        Assert.Equal(Path.Combine(b.Node.DownloadDirectory, "movie.bin"), done.Path);
    }

    [Fact]
    public async Task A_paused_download_keeps_its_chunks_stays_paused_across_a_restart_and_resumes_to_completion()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 4 * 1024 * 1024);
        var b = await TestNode.StartJoiningAsync("b", a);
        var source = TestFiles.Create(a.Directory.Combine("src", "p.bin"), 32L * 1024 * 1024, seed: 73);
        var shared = await a.ShareAsync(source);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        await b.StartDownloadAsync(shared.Link);
        await Eventually.TrueAsync(async () => (await b.TransferAsync(shared.Id)).VerifiedBytes > 0, "B's download to start");

        var paused = (await (await b.Api.PostAsync($"api/downloads/{shared.Id}/pause", null)).Content.ReadFromJsonAsync(ApiJson.Default.TransferDto))!;
        Assert.Equal("paused", paused.State);
        Assert.True(paused.VerifiedBytes > 0);
        Assert.True(File.Exists(Path.Combine(b.Node.Home.PartialDirectory, shared.Id + ".part")));

        await b.StopAsync();
        await using var restarted = await b.StartAgainAsync();
        var after = await restarted.TransferAsync(shared.Id);
        Assert.Equal("paused", after.State);
        Assert.Equal(paused.VerifiedBytes, after.VerifiedBytes);

        await restarted.WaitForPeerAsync(a);
        Assert.Equal(HttpStatusCode.OK, (await restarted.Api.PostAsync($"api/downloads/{shared.Id}/resume", null)).StatusCode);
        var done = await Eventually.ValueAsync(async () => await restarted.TransferAsync(shared.Id) is { State: "completed" } t ? t : null, "the resumed download to finish");
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(done.Path!));
    }

    [Fact]
    public async Task Cancelling_a_paused_download_deletes_what_it_kept_for_good()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 4 * 1024 * 1024);
        var b = await TestNode.StartJoiningAsync("b", a);
        var source = TestFiles.Create(a.Directory.Combine("src", "c.bin"), 32L * 1024 * 1024, seed: 74);
        var shared = await a.ShareAsync(source);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        await b.StartDownloadAsync(shared.Link);
        await Eventually.TrueAsync(async () => (await b.TransferAsync(shared.Id)).VerifiedBytes > 0, "B's download to start");
        (await b.Api.PostAsync($"api/downloads/{shared.Id}/pause", null)).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.NoContent, (await b.Api.DeleteAsync($"api/downloads/{shared.Id}")).StatusCode);

        Assert.False(File.Exists(Path.Combine(b.Node.Home.PartialDirectory, shared.Id + ".part")));
        await b.StopAsync();
        await using var restarted = await b.StartAgainAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await restarted.Api.GetAsync($"api/downloads/{shared.Id}")).StatusCode);
    }

    [Fact]
    public async Task Settings_change_at_once_where_they_can_and_say_what_needs_a_restart()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var newFolder = a.Directory.Combine("elsewhere");

        var response = await a.Api.PutAsJsonAsync("api/settings", new SettingsRequest("renamed", newFolder, null, 1_000_000, null), ApiJson.Default.SettingsRequest);
        response.EnsureSuccessStatusCode();
        var change = (await response.Content.ReadFromJsonAsync(ApiJson.Default.SettingsChangeDto))!;

        Assert.Equal(["folder"], change.RestartRequired);
        Assert.Equal("renamed", (await a.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Name);
        Assert.Equal(1_000_000, a.Node.UploadLimit.BytesPerSecond);
        var saved = NodeConfig.Load(a.Node.Home);
        Assert.Equal(("renamed", newFolder, 1_000_000L), (saved.Name, saved.Folder, saved.UploadLimit));

        var bad = await a.Api.PutAsJsonAsync("api/settings", new SettingsRequest("", null, "relative/dir", -1, null), ApiJson.Default.SettingsRequest);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("renamed", NodeConfig.Load(a.Node.Home).Name);

        var invite = (await a.Api.GetFromJsonAsync("api/invite", ApiJson.Default.InviteDto))!;
        Assert.True(InviteCode.TryParse(invite.Code, out var parsed, out _));
        Assert.Equal(a.Node.Membership.Network, parsed!.Membership.Network);
    }

    [Fact]
    public async Task The_event_stream_sends_snapshots_then_pushes_a_peer_going_online_and_offline()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        using var events = new EventReader(await a.Api.GetStreamAsync("api/events"));
        var kinds = new HashSet<string>();
        while (kinds.Count < 7) kinds.Add((await events.NextAsync()).Kind);
        Assert.Equal(["files", "folder", "health", "peers", "puts", "status", "transfers"], kinds.Order());

        var b = await TestNode.StartJoiningAsync("b", a);
        await events.WaitForAsync("peers", json => json.Contains("\"name\":\"b\",\"online\":true", StringComparison.Ordinal));
        await b.DisposeAsync();
        await events.WaitForAsync("peers", json => json.Contains("\"name\":\"b\",\"online\":false", StringComparison.Ordinal));
    }

    private static Func<NodeOptions, NodeOptions> WithPassword(string password) => options =>
    {
        var config = NodeConfig.Load(options.Home);
        (config with { ApiPasswordHash = PasswordHash.Create(password) }).Save(options.Home);
        return options;
    };

    /// <summary>Sends a request as written and returns the node's answer: what a misbehaving client sees.</summary>
    private static async Task<string> RawRequestAsync(TestNode node, string requestLine, string header, string body = "")
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, node.Node.ApiUrl.Port);
        var stream = client.GetStream();

        // Expect: 100-continue, as curl sends for a large body: the node answers before any of the body is sent.
        var request = $"{requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {node.Node.ApiToken}\r\n{header}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, timeout.Token) is var read and > 0) answer.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // A body announced but never sent: after answering, the node drops the connection. The answer came first.
        }

        return Encoding.UTF8.GetString(answer.ToArray());
    }

    /// <summary>Reads Server-Sent Events the way the page does.</summary>
    private sealed class EventReader(Stream stream) : IDisposable
    {
        private readonly StreamReader _reader = new(stream, Encoding.UTF8);

        public async Task<(string Kind, string Data)> NextAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? kind = null;
            var data = new StringBuilder();
            while (await _reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.Length == 0 && kind is not null) return (kind, data.ToString());
                if (line.StartsWith("event: ", StringComparison.Ordinal)) kind = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line["data: ".Length..]);
            }

            throw new EndOfStreamException("the event stream ended");
        }

        public async Task WaitForAsync(string kind, Func<string, bool> matches)
        {
            while (await NextAsync() is var (k, data))
            {
                if (k == kind && matches(data)) return;
            }
        }

        public void Dispose() => _reader.Dispose();
    }
}
