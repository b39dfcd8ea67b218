using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Mlx.Formats.Tests;

/// <summary>Mlx.Formats uses only the BCL and never reflection-based deserialization.</summary>
public class DependencyRulesTests
{
    private static MetadataReader Open(out PEReader pe)
    {
        pe = new PEReader(File.OpenRead(typeof(ModelFile).Assembly.Location));
        return pe.GetMetadataReader();
    }

    [Fact]
    public void ReferencesOnlyTheBcl()
    {
        MetadataReader md = Open(out PEReader pe);
        using (pe)
        {
            foreach (AssemblyReferenceHandle h in md.AssemblyReferences)
            {
                string name = md.GetString(md.GetAssemblyReference(h).Name);
                Assert.True(name.StartsWith("System.", StringComparison.Ordinal) || name is "System" or "netstandard" or "mscorlib", name);
            }
        }
    }

    [Fact]
    public void NoSerializersReflectionOrTypeLoading()
    {
        MetadataReader md = Open(out PEReader pe);
        using (pe)
        {
            string[] forbidden = ["JsonSerializer", "BinaryFormatter", "XmlSerializer", "DataContractSerializer", "Activator", "Assembly"];
            foreach (TypeReferenceHandle h in md.TypeReferences)
            {
                TypeReference t = md.GetTypeReference(h);
                string ns = md.GetString(t.Namespace);
                string name = md.GetString(t.Name);
                Assert.DoesNotContain(name, forbidden);
                if (ns.StartsWith("System.Reflection", StringComparison.Ordinal))
                {
                    Assert.EndsWith("Attribute", name);
                }
            }
            foreach (MemberReferenceHandle h in md.MemberReferences)
            {
                MemberReference m = md.GetMemberReference(h);
                if (m.Parent.Kind == HandleKind.TypeReference)
                {
                    string owner = md.GetString(md.GetTypeReference((TypeReferenceHandle)m.Parent).Name);
                    string member = md.GetString(m.Name);
                    Assert.False(owner == "Type" && member is "GetType" or "GetMethod" or "GetField" or "InvokeMember", $"{owner}.{member}");
                }
            }
        }
    }
}
