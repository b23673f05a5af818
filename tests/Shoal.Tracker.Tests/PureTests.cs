using System.Net;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker.Tests;

public sealed class FileSummaryTests
{
    [Fact]
    public void Replicas_is_the_holder_count_of_the_rarest_chunk()
    {
        HoldingRow[] holdings =
        [
            new("f", 20, 10, null),
            new("f", 20, 10, TestFiles.Bits(10, 0, 1, 2, 3, 4, 5, 6, 7, 8)),
            new("f", 20, 10, TestFiles.Bits(10, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
        ];
        Assert.Equal(2, FileSummary.Replicas(10, holdings));
        Assert.Equal(3, FileSummary.Replicas(10, [.. holdings, new("f", 20, 10, TestFiles.Bits(10, 0, 9))]));
        Assert.Equal(0, FileSummary.Replicas(10, [holdings[1]]));
        Assert.Equal(1, FileSummary.Replicas(10, [holdings[0]]));
    }

    [Fact]
    public void A_holder_that_disagrees_about_the_chunk_count_holds_no_chunk_in_particular()
    {
        HoldingRow[] holdings = [new("f", 20, 10, null), new("f", 20, 11, null), new("g", 20, 10, TestFiles.Bits(10, 0))];
        var summary = FileSummary.Summarize("id", holdings);
        Assert.Equal((holdings.Length, 1, "f", 10), (summary.Holders, summary.Replicas, summary.Name, summary.ChunkCount));
    }

    [Fact]
    public void An_empty_file_has_as_many_replicas_as_holders() =>
        Assert.Equal(2, FileSummary.Replicas(0, [new("e", 0, 0, null), new("e", 0, 0, null)]));
}

public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("0.0.0.0:7422", "0.0.0.0", 7422)]
    [InlineData("127.0.0.1:0", "127.0.0.1", 0)]
    [InlineData("[::]:7423", "::", 7423)]
    [InlineData("[::1]:80", "::1", 80)]
    [InlineData("*:7422", "::", 7422)]
    [InlineData("localhost:7422", "127.0.0.1", 7422)]
    public void Listen_addresses_parse(string text, string address, int port) =>
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), TrackerHost.ParseListen(text));

    [Theory]
    [InlineData("7422")]
    [InlineData("0.0.0.0")]
    [InlineData("::1:80")]
    [InlineData("tracker.example:7422")]
    [InlineData("0.0.0.0:70000")]
    [InlineData("0.0.0.0:x")]
    public void Bad_listen_addresses_are_refused(string text) =>
        Assert.Throws<ArgumentException>(() => TrackerHost.ParseListen(text));

    [Theory]
    [InlineData("postgres://shoal:s%40cret@db.example:6543/tracker?sslmode=disable", "PostgreSQL db.example:6543/tracker")]
    [InlineData("postgresql://db.example/tracker", "PostgreSQL db.example:5432/tracker")]
    [InlineData("postgres://shoal@[fd00::5]:5433/t", "PostgreSQL fd00::5:5433/t")]
    [InlineData("Host=db.example;Port=5433;Username=shoal;Password=secret;Database=t", "PostgreSQL db.example:5433/t")]
    [InlineData("Username=shoal; host = db.example;Database=t", "PostgreSQL db.example:5432/t")]
    [InlineData("/var/lib/shoal/tracker.db", "SQLite /var/lib/shoal/tracker.db")]
    public async Task Database_strings_name_the_backend_and_never_the_password(string database, string description)
    {
        await using var dialect = SqlDialect.For(database);
        Assert.Equal(description, dialect.Description);
        Assert.DoesNotContain("cret", dialect.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_database_url_parameter_is_refused() =>
        Assert.Throws<ArgumentException>(() => SqlDialect.For("postgres://db.example/t?colour=blue"));
}
