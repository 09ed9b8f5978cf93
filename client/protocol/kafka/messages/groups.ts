// The classic consumer group protocol as Kafka's clients speak it, transcribed from Kafka's JSON
// definitions: JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13), DescribeGroups
// (15), ListGroups (16). `metadata` and `assignment` stay opaque bytes, as in Kafka. Fields Kafka
// added after our newest version (ListGroups v5's TypesFilter, GroupType) are left out until we take it.

import type { MessageSpec } from '../schema.js'

export const joinGroupRequest: MessageSpec = {
  name: 'JoinGroupRequest',
  apiKey: 11,
  type: 'request',
  validVersions: '0-9',
  flexibleVersions: '6+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'sessionTimeoutMs', type: 'int32', versions: '0+' },
    // Absent in v0, where the session timeout is the rebalance timeout too (Kafka's semantics).
    { name: 'rebalanceTimeoutMs', type: 'int32', versions: '1+', default: -1 },
    { name: 'memberId', type: 'string', versions: '0+' },
    { name: 'groupInstanceId', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'protocolType', type: 'string', versions: '0+' },
    {
      name: 'protocols',
      type: '[]JoinGroupRequestProtocol',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        { name: 'metadata', type: 'bytes', versions: '0+' },
      ],
    },
    { name: 'reason', type: 'string', versions: '8+', nullableVersions: '8+', default: null },
  ],
}

export const joinGroupResponse: MessageSpec = {
  name: 'JoinGroupResponse',
  apiKey: 11,
  type: 'response',
  validVersions: '0-9',
  flexibleVersions: '6+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'generationId', type: 'int32', versions: '0+', default: -1 },
    { name: 'protocolType', type: 'string', versions: '7+', nullableVersions: '7+', default: null },
    { name: 'protocolName', type: 'string', versions: '0+', nullableVersions: '7+' },
    { name: 'leader', type: 'string', versions: '0+' },
    { name: 'skipAssignment', type: 'bool', versions: '9+', default: false },
    { name: 'memberId', type: 'string', versions: '0+' },
    {
      name: 'members',
      type: '[]JoinGroupResponseMember',
      versions: '0+',
      fields: [
        { name: 'memberId', type: 'string', versions: '0+' },
        { name: 'groupInstanceId', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
        { name: 'metadata', type: 'bytes', versions: '0+' },
      ],
    },
  ],
}

export const syncGroupRequest: MessageSpec = {
  name: 'SyncGroupRequest',
  apiKey: 14,
  type: 'request',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'generationId', type: 'int32', versions: '0+' },
    { name: 'memberId', type: 'string', versions: '0+' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
    { name: 'protocolType', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'protocolName', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    {
      name: 'assignments',
      type: '[]SyncGroupRequestAssignment',
      versions: '0+',
      fields: [
        { name: 'memberId', type: 'string', versions: '0+' },
        { name: 'assignment', type: 'bytes', versions: '0+' },
      ],
    },
  ],
}

export const syncGroupResponse: MessageSpec = {
  name: 'SyncGroupResponse',
  apiKey: 14,
  type: 'response',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'protocolType', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'protocolName', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'assignment', type: 'bytes', versions: '0+' },
  ],
}

export const heartbeatRequest: MessageSpec = {
  name: 'HeartbeatRequest',
  apiKey: 12,
  type: 'request',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'generationId', type: 'int32', versions: '0+' },
    { name: 'memberId', type: 'string', versions: '0+' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
  ],
}

export const heartbeatResponse: MessageSpec = {
  name: 'HeartbeatResponse',
  apiKey: 12,
  type: 'response',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
  ],
}

export const leaveGroupRequest: MessageSpec = {
  name: 'LeaveGroupRequest',
  apiKey: 13,
  type: 'request',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    // v0-2 name one member; v3 (KIP-345) batches members, with their static instance ids.
    { name: 'memberId', type: 'string', versions: '0-2' },
    {
      name: 'members',
      type: '[]MemberIdentity',
      versions: '3+',
      fields: [
        { name: 'memberId', type: 'string', versions: '3+' },
        { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
        { name: 'reason', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
      ],
    },
  ],
}

export const leaveGroupResponse: MessageSpec = {
  name: 'LeaveGroupResponse',
  apiKey: 13,
  type: 'response',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    {
      name: 'members',
      type: '[]MemberResponse',
      versions: '3+',
      fields: [
        { name: 'memberId', type: 'string', versions: '3+' },
        { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+' },
        { name: 'errorCode', type: 'int16', versions: '3+' },
      ],
    },
  ],
}

export const describeGroupsRequest: MessageSpec = {
  name: 'DescribeGroupsRequest',
  apiKey: 15,
  type: 'request',
  validVersions: '0-5',
  flexibleVersions: '5+',
  fields: [
    { name: 'groups', type: '[]string', versions: '0+' },
    { name: 'includeAuthorizedOperations', type: 'bool', versions: '3+' },
  ],
}

export const describeGroupsResponse: MessageSpec = {
  name: 'DescribeGroupsResponse',
  apiKey: 15,
  type: 'response',
  validVersions: '0-5',
  flexibleVersions: '5+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    {
      name: 'groups',
      type: '[]DescribedGroup',
      versions: '0+',
      fields: [
        { name: 'errorCode', type: 'int16', versions: '0+' },
        { name: 'groupId', type: 'string', versions: '0+' },
        { name: 'groupState', type: 'string', versions: '0+' },
        { name: 'protocolType', type: 'string', versions: '0+' },
        { name: 'protocolData', type: 'string', versions: '0+' },
        {
          name: 'members',
          type: '[]DescribedGroupMember',
          versions: '0+',
          fields: [
            { name: 'memberId', type: 'string', versions: '0+' },
            { name: 'groupInstanceId', type: 'string', versions: '4+', nullableVersions: '4+', default: null },
            { name: 'clientId', type: 'string', versions: '0+' },
            { name: 'clientHost', type: 'string', versions: '0+' },
            { name: 'memberMetadata', type: 'bytes', versions: '0+' },
            { name: 'memberAssignment', type: 'bytes', versions: '0+' },
          ],
        },
        // INT32_MIN: operations were not asked for (Kafka's "not requested" marker).
        { name: 'authorizedOperations', type: 'int32', versions: '3+', default: -2147483648 },
      ],
    },
  ],
}

export const listGroupsRequest: MessageSpec = {
  name: 'ListGroupsRequest',
  apiKey: 16,
  type: 'request',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [{ name: 'statesFilter', type: '[]string', versions: '4+' }],
}

export const listGroupsResponse: MessageSpec = {
  name: 'ListGroupsResponse',
  apiKey: 16,
  type: 'response',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    {
      name: 'groups',
      type: '[]ListedGroup',
      versions: '0+',
      fields: [
        { name: 'groupId', type: 'string', versions: '0+' },
        { name: 'protocolType', type: 'string', versions: '0+' },
        { name: 'groupState', type: 'string', versions: '4+' },
      ],
    },
  ],
}
