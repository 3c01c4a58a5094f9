"""The package's entry points: each loads its class, is configured and described the one way."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_mysql import MySQLBinlogSource, MySQLConnection, MySQLLookup, MySQLSink, MySQLSource


class TestPlugins(PluginContract):
    distribution = "pump-mysql"
    declared = {
        ("connection", "mysql"): MySQLConnection,
        ("sink", "mysql"): MySQLSink,
        ("source", "mysql"): MySQLSource,
        ("lookup", "mysql"): MySQLLookup,
        ("source", "mysql.binlog"): MySQLBinlogSource,
    }
