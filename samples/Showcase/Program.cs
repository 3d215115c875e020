using System.Reflection;
using AsyncPatterns;

var version = typeof(AsyncPatternsException).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
Console.WriteLine($"AsyncPatterns {version}");
return 0;
