using System.Text.Json;
using System.Text.Json.Serialization;
using AsyncPatterns.Http;

namespace AsyncPatterns.Tests.Http;

/// <summary>A context without web defaults: names are matched exactly (PascalCase), unknown members ignored.</summary>
[JsonSerializable(typeof(ServerItem))]
internal sealed partial class PascalCaseJson : JsonSerializerContext;

/// <summary>A context without web defaults that rejects members it cannot map, as the README recommends.</summary>
[JsonSourceGenerationOptions(UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ServerItem))]
internal sealed partial class StrictPascalCaseJson : JsonSerializerContext;

/// <summary>What the README promises about JSON contexts: web defaults read camelCase, a strict context fails loudly.</summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Fact]
    public async Task FetchAllAsync_CamelCaseJsonWithAWebDefaultsContext_ReadsEveryValue()
    {
        _handler.OnAnyRequest(Item(7));

        var results = await Fetcher().FetchAllAsync([Url("items/7")], HttpTestJson.Default.ServerItem, Ct);

        results.Should().ContainSingle().Which.Value.Should().Be(new ServerItem(7, "item-7", 1.25m));
    }

    [Fact]
    public async Task FetchAllAsync_CamelCaseJsonWithAContextWithoutWebDefaults_ReadsDefaultsAsTheReadmeWarns()
    {
        _handler.OnAnyRequest(Item(7));

        var results = await Fetcher().FetchAllAsync([Url("items/7")], PascalCaseJson.Default.ServerItem, Ct);

        results.Should().ContainSingle().Which.IsSuccess.Should().BeTrue();
        results[0].Value.Should().Be(new ServerItem(0, null!, 0m), "System.Text.Json ignores the members it cannot map");
    }

    [Fact]
    public async Task FetchAllAsync_CamelCaseJsonWithAContextThatDisallowsUnmappedMembers_FailsAsInvalidContent()
    {
        _handler.OnAnyRequest(Item(7));

        var results = await Fetcher().FetchAllAsync([Url("items/7")], StrictPascalCaseJson.Default.ServerItem, Ct);

        var result = results.Should().ContainSingle().Which;
        result.IsSuccess.Should().BeFalse();
        result.Error!.Kind.Should().Be(FetchErrorKind.InvalidContent);
        result.Error.Exception.Should().BeOfType<JsonException>();
    }

    [Fact]
    public async Task FetchAllAsync_TypeInfoFromJsonSerializerOptionsWithWebDefaults_ReadsCamelCase()
    {
        _handler.OnAnyRequest(Item(3));
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = PascalCaseJson.Default };
        var typeInfo = (System.Text.Json.Serialization.Metadata.JsonTypeInfo<ServerItem>)options.GetTypeInfo(typeof(ServerItem));

        var results = await Fetcher().FetchAllAsync([Url("items/3")], typeInfo, Ct);

        results.Should().ContainSingle().Which.Value.Should().Be(new ServerItem(3, "item-3", 1.25m));
    }
}
